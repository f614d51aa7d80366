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


def _section(tmp_path, **log) -> str:
    return embedtune_section(TrainConfig(data=[tmp_path / "d"], output=tmp_path / "m"), None, None, log)


def test_the_loss_check_names_chance_level_and_warns_when_nothing_was_learned(tmp_path):
    quiet = _section(tmp_path, epoch_losses=[2.1, 1.2], chance_loss=3.4657, learned_nothing=False)
    assert "Mean loss per epoch: 2.1000, 1.2000 (chance level ln(candidates per anchor) = 3.4657" in quiet
    assert "learned nothing" not in quiet
    assert "**Warning: the loss stayed near chance level: this model learned nothing.**" in _section(
        tmp_path, epoch_losses=[3.46], chance_loss=3.4657, learned_nothing=True)


def test_the_section_goes_before_training_details_and_replaces_itself_on_a_rerun(tmp_path):
    from embedtune.card import add_embedtune_section, note_merge

    card = tmp_path / "README.md"
    card.write_text("# model\n\nintro\n\n## Training Details\n\nlosses\n", encoding="utf-8")
    config = TrainConfig(data=[tmp_path / "d"], output=tmp_path / "m")
    add_embedtune_section(card, config, None, None, {"learned_nothing": True})
    add_embedtune_section(card, config, None, None, {})
    text = card.read_text(encoding="utf-8")
    assert text.count(SECTION_TITLE) == 1 and "learned nothing" not in text  # the rerun's section replaced the first
    assert text.index("intro") < text.index(SECTION_TITLE) < text.index("## Training Details") < text.index("losses")

    note_merge(card, {"alpha": 0.25, "base_model": "all-MiniLM-L6-v2", "model": "runs/tuned"})
    text = card.read_text(encoding="utf-8")
    assert "0.75 × `all-MiniLM-L6-v2` + 0.25 × `runs/tuned`" in text and "not evaluated" not in text
    assert text.count(SECTION_TITLE) == 1 and text.rstrip().endswith("losses")

    bare = tmp_path / "other" / "README.md"
    bare.parent.mkdir()
    add_embedtune_section(bare, config, None, None, {})
    assert bare.read_text(encoding="utf-8").startswith(f"# other\n\n{SECTION_TITLE}")  # no card yet: one is started
