from __future__ import annotations

import pytest

from embedtune.errors import EmbedtuneError
from embedtune.recsys.build import build_recsys
from embedtune.recsys.recommend import Recommendation, Recommender


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
