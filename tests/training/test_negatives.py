"""Hard negatives mined by BM25 or by the hybrid: the lexical near-misses, never a positive, random when none fit."""

from __future__ import annotations

import pytest

from embedtune.config import TrainConfig
from embedtune.data.records import Pair
from embedtune.errors import EmbedtuneError

pytestmark = pytest.mark.slow

# Each question has one answer; each answer has a lexical twin that repeats the question's words but answers
# something else, and the weather notes share nothing with any question.
TOPICS = ["invoice", "password", "shipping", "refund", "backup", "coupon"]
ANSWERS = [f"The {t} settings page lists each step for your {t}." for t in TOPICS]
TWINS = [f"{t.capitalize()} {t} {t}: delete {t} history, change {t} colour, {t} {t} limits." for t in TOPICS]
WEATHER = [f"Note {i}: rain tomorrow, sun later in the garden." for i in range(12)]
CORPUS = ANSWERS + TWINS + WEATHER
PAIRS = [Pair(f"how do I manage my {t}?", ANSWERS[i]) for i, t in enumerate(TOPICS)]


def _config(**kw) -> TrainConfig:
    settings = {"hard_negatives": 1, "hard_negative_range_min": 0, "hard_negative_range_max": 5,
                "hard_negative_margin": None, **kw}
    return TrainConfig(data=["x"], output="y", **settings)


@pytest.mark.parametrize("source", ["bm25", "hybrid"])
def test_lexical_rankers_mine_the_lexical_twin(source, base_model, tmp_path, monkeypatch):
    from embedtune.training.prepare import mine_negatives

    monkeypatch.setenv("EMBEDTUNE_CACHE", str(tmp_path / "cache"))
    mined, n_random = mine_negatives(PAIRS, base_model, _config(hard_negatives_from=source), CORPUS)
    assert n_random == 0
    assert [(p.anchor, p.positive) for p in mined] == [(p.anchor, p.positive) for p in PAIRS]
    # The passage BM25 (alone or fused) ranks first after the answer is the twin that repeats the topic word.
    assert [p.negatives for p in mined] == [(twin,) for twin in TWINS]


def test_range_min_skips_the_top_candidates(base_model, tmp_path, monkeypatch):
    from embedtune.training.prepare import mine_negatives

    monkeypatch.setenv("EMBEDTUNE_CACHE", str(tmp_path / "cache"))
    mined, _ = mine_negatives(PAIRS, base_model, _config(hard_negatives_from="bm25", hard_negative_range_min=1), CORPUS)
    assert all(p.negatives and p.negatives[0] not in (TWINS[i], ANSWERS[i]) for i, p in enumerate(mined))


def test_pairs_without_candidates_below_the_margin_keep_random_negatives(base_model, tmp_path, monkeypatch):
    from embedtune.training.prepare import mine_negatives

    monkeypatch.setenv("EMBEDTUNE_CACHE", str(tmp_path / "cache"))
    # A margin of 0.99 rejects every candidate scoring above 1% of the positive's cosine: none qualifies.
    strict = _config(hard_negatives_from="hybrid", hard_negatives=2, hard_negative_margin=0.99)
    kept, n_random = mine_negatives(PAIRS, base_model, strict, CORPUS)
    assert n_random == len(PAIRS)
    for original, pair in zip(PAIRS, kept, strict=True):
        assert (pair.anchor, pair.positive) == (original.anchor, original.positive)
        assert len(set(pair.negatives)) == 2 and pair.positive not in pair.negatives
        assert set(pair.negatives) <= set(CORPUS)


def test_an_anchor_with_two_positives_never_gets_either_as_a_negative(base_model, tmp_path, monkeypatch):
    from embedtune.training.prepare import mine_negatives

    monkeypatch.setenv("EMBEDTUNE_CACHE", str(tmp_path / "cache"))
    pairs = [*PAIRS, Pair(PAIRS[0].anchor, TWINS[0])]  # the invoice twin is a second positive of the invoice question
    mined, _ = mine_negatives(pairs, base_model, _config(hard_negatives_from="bm25"), CORPUS)
    for pair in mined[:1] + mined[-1:]:
        assert not {ANSWERS[0], TWINS[0]} & set(pair.negatives)


def test_an_unknown_ranker_is_refused():
    from embedtune.config import load_train_config

    with pytest.raises(EmbedtuneError, match="hard_negatives_from"):
        load_train_config(hard_negatives_from="colbert")
