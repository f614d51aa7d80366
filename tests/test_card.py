"""The card's embedtune section says whether the fine-tune helped — or why it cannot say."""

from __future__ import annotations

from embedtune.card import SECTION_TITLE, embedtune_section
from embedtune.config import TrainConfig
from embedtune.data import Document, write_beir


def test_an_unevaluated_site_model_asks_for_real_questions_and_recommends_base_hybrid(tmp_path):
    data = write_beir(tmp_path / "site", [Document("p1", "Sync runs every minute.", "Sync")], {"q1": "sync"},
                      {"train": {"q1": {"p1": 1}}}, manifest={"kind": "site"})
    card = embedtune_section(TrainConfig(data=[data], output=tmp_path / "m"), None, None, {})
    assert card.startswith(SECTION_TITLE) and "**not evaluated**" in card
    assert "serve base_hybrid" in card and "--search-log" in card


def test_an_unevaluated_retrieval_model_gets_no_site_advice(tiny_beir, tmp_path):
    card = embedtune_section(TrainConfig(data=[tiny_beir], output=tmp_path / "m"), None, None, {})
    assert "**not evaluated**" in card and "base_hybrid" not in card
