from __future__ import annotations

import json

import numpy as np
import pytest

from embedtune.errors import EmbedtuneError
from embedtune.recsys.build import build_recsys
from embedtune.recsys.recommend import Recommendation, Recommender
from tests.recsys.conftest import FakeEncoder, build_shop_index


@pytest.fixture
def recommender(tiny_shop, tmp_path, base_model):
    out = build_recsys(*tiny_shop, tmp_path / "data").out_dir
    return Recommender("all-MiniLM-L6-v2", out, model=base_model, use_cache=False)


def test_recommend_for_a_known_user_excludes_the_history(recommender):
    recs = recommender.recommend(user_id="u1", k=10)
    assert [r.item_id for r in recs] == ["i5"]  # u1 has met i1..i4; only i5 is left
    assert isinstance(recs[0], Recommendation)
    assert recs[0].metadata["item_title"] == "Fitted Cap"
    assert -1.0 <= recs[0].score <= 1.0


def test_recommend_for_an_ad_hoc_history(recommender):
    recs = recommender.recommend(history=["i4"], k=2)
    assert len(recs) == 2 and "i4" not in {r.item_id for r in recs}
    assert recs[0].score >= recs[1].score
    # Hats, shop s3: the other cap is the closest item for MiniLM.
    assert recs[0].item_id == "i5"
    profile = recommender.profile(history=["i4", "i5"])
    assert "- HistCategories: hats" in profile and "- HistItems: Fitted Cap; Cap" in profile


def test_profile_of_a_known_user_uses_the_whole_history(recommender):
    profile = recommender.profile(user_id="u1")
    assert "- HistIntentions: click: 3, cart: 1, buy: 1" in profile
    assert "- HistItems: Cap; Dri-Fit Tee; Superstar; Air Max" in profile


def test_unknown_user_or_items_are_clear_errors(recommender):
    with pytest.raises(EmbedtuneError, match="unknown user 'nobody'"):
        recommender.recommend(user_id="nobody")
    with pytest.raises(EmbedtuneError, match="unknown item ids in the history: zz"):
        recommender.recommend(history=["i1", "zz"])
    with pytest.raises(EmbedtuneError, match="exactly one"):
        recommender.recommend(user_id="u1", history=["i1"])


def test_a_retrieval_data_dir_is_refused(tiny_beir, base_model):
    with pytest.raises(EmbedtuneError, match="not a recommendation DATA_DIR"):
        Recommender("all-MiniLM-L6-v2", tiny_beir, model=base_model)


@pytest.fixture
def shop_index(tiny_shop, tmp_path):
    return build_shop_index(tiny_shop, tmp_path)


def test_cooccurrence_mode_ranks_by_items_met_together(recommender):
    ranking = recommender.rank(history=["i1"], k=2, mode="cooccurrence")
    # Training events: u1 met i1 and i2 before its dev target, so i2 is the one co-occurring item.
    assert ranking.mode == "cooccurrence" and ranking.fallback is None
    assert ranking.items[0].item_id == "i2" and ranking.items[0].score > ranking.items[1].score


def test_a_history_without_cooccurrence_statistics_falls_back_to_the_text_tower(recommender):
    ranking = recommender.rank(history=["i5"], k=3, mode="cooccurrence")
    assert ranking.mode == "text" and "text tower" in ranking.fallback
    text = recommender.rank(history=["i5"], k=3, mode="text")
    assert [r.item_id for r in ranking.items] == [r.item_id for r in text.items]
    assert ranking.items[0].item_id == "i4"  # MiniLM: the other cap


def test_an_unknown_mode_is_a_clear_error(recommender):
    with pytest.raises(EmbedtuneError, match="unknown mode 'popular': choose one of text, cooccurrence, hybrid"):
        recommender.recommend(user_id="u1", mode="popular")


def test_index_build_on_recsys_data_saves_statistics_that_updates_keep(shop_index, tmp_path):
    from embedtune.index import add_to_index
    from embedtune.recsys.stats import ItemStats

    data, index = shop_index
    saved = ItemStats.load(index)
    fresh = ItemStats.from_data_dir(data)
    assert saved.item_ids == fresh.item_ids and np.allclose(saved.similarity.toarray(), fresh.similarity.toarray())
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps({"_id": "i6", "title": "", "text": "Item Metadata:\n- item_id: i6\n- Title: Beanie"}) + "\n")
    add_to_index(index, new, encoder=FakeEncoder(), show_progress=False)
    assert ItemStats.load(index).item_ids == fresh.item_ids


def test_from_index_ranks_the_index_vectors_with_the_index_backend(shop_index, tmp_path, monkeypatch):
    import embedtune.encoders
    from embedtune.index import add_to_index

    data, index = shop_index
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps({"_id": "i6", "title": "", "text": "Item Metadata:\n- item_id: i6\n- Title: Beanie",
                               "category": "hats", "item_title": "Beanie"}) + "\n")
    add_to_index(index, new, encoder=FakeEncoder(), show_progress=False)
    fake, calls = FakeEncoder(), []
    monkeypatch.setattr(embedtune.encoders, "load_encoder", lambda model, backend, **kw: calls.append((model, backend)) or fake)
    rec = Recommender.from_index(index)
    assert calls == [("all-MiniLM-L6-v2", "onnx-int8")]
    ranking = rec.rank(history=["i4"], k=3, mode="text")
    # The profile points at i2; by the index's vectors i2, then i6 and i5 (MiniLM would put the cap i5 first).
    assert [r.item_id for r in ranking.items] == ["i2", "i6", "i5"] and fake.queries == 1
    assert ranking.items[0].metadata["item_title"] == "Superstar"
    # i6 came after the statistics: a history of it alone gets the text tower.
    fallback = rec.rank(history=["i6"], k=2, mode="cooccurrence")
    assert fallback.mode == "text" and [r.item_id for r in fallback.items] == ["i2", "i5"]
