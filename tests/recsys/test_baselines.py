from __future__ import annotations

import math
from pathlib import Path

from embedtune.data import load_retrieval_split
from embedtune.recsys.baselines import (
    AttributesRecommender,
    CooccurrenceRecommender,
    PopularityRecommender,
    TransitionsRecommender,
    recsys_baselines,
)
from tests.recsys.conftest import cooccurrence_shop


def shop(tmp_path: Path) -> tuple[Path, object]:
    # Training histories: u1 {a,b}, u2 {a,b,c}, u3 {a,c}; u4 is evaluated: history {b}, test target d.
    out = cooccurrence_shop(tmp_path)
    return out, load_retrieval_split(out, "test")


def test_popularity_counts_training_events_only_and_excludes_history(tmp_path):
    out, split = shop(tmp_path)
    # train events: a×3, b×3 (u1, u2, u4's b), c×2; e and d are dev/test targets for u1–u3 → not counted.
    run = PopularityRecommender(out).rank(split, k=5)
    assert run["uu4@1"] == [("a", 3.0), ("c", 2.0), ("d", 0.0), ("e", 0.0)]  # b is u4's history
    assert [d for d, _ in run["uu1@3"]] == ["c", "d"]  # u1's history a, b, e is excluded


def test_cooccurrence_scores_items_that_share_users_with_the_history(tmp_path):
    out, split = shop(tmp_path)
    system = CooccurrenceRecommender(out)
    run = system.rank(split, k=4)
    # u4's history is {b}: b co-occurs with a in u1, u2 (2 users) and with c in u2 (1 user).
    # cosine: n_a = 3, n_b = 3 (u1, u2, u4), n_c = 2 → a: 2/3 = 0.667, c: 1/sqrt(6) = 0.408.
    ranked = run["uu4@1"]
    assert [d for d, _ in ranked] == ["a", "c", "d", "e"]
    assert math.isclose(ranked[0][1], 2 / 3, rel_tol=1e-4)
    assert math.isclose(ranked[1][1], 1 / math.sqrt(6), rel_tol=1e-4)


def test_recsys_baselines_are_named_for_the_evaluator(tmp_path):
    out, split = shop(tmp_path)
    systems = recsys_baselines(out, split)
    assert [s.name for s in systems] == ["popularity", "cooccurrence", "transitions", "attributes"]
    for system in systems:
        run = system.rank(split, k=10)
        for qid, ranked in run.items():
            assert not {d for d, _ in ranked} & split.exclude.get(qid, set())


def test_transitions_score_what_followed_the_history_in_training_sequences(tmp_path):
    out, split = shop(tmp_path)
    run = TransitionsRecommender(out).rank(split, k=4)
    # u4's history is {b}; in training, only c ever followed b (u2: a, b, c): share 1. a never followed b: it
    # is ranked by the popularity tie-break only, before d and e (no training events).
    ranked = run["uu4@1"]
    assert [d for d, _ in ranked] == ["c", "a", "d", "e"]
    assert math.isclose(ranked[0][1], 1.0, rel_tol=1e-4)
    assert ranked[1][1] < 1e-5


def test_attributes_score_the_history_s_categories_then_popularity_within_them(tmp_path):
    out = cooccurrence_shop(tmp_path, categories="xyxyx")  # a, c, e in x; b, d in y
    split = load_retrieval_split(out, "test")
    run = AttributesRecommender(out).rank(split, k=4)
    # Training events a 3, b 3, c 2: P_train = (x 5 + 1, y 3 + 1) / (8 + 2) = 0.6, 0.4. u4's history {b}, α = 3:
    # taste y (1 + 3 · 0.4) / 4 = 0.55, x 0.45; within a category by events + 1: a 4/8, c 3/8, e 1/8, b 4/5,
    # d 1/5 — d and e are both cold, d is in the history's category.
    ranked = run["uu4@1"]
    assert [d for d, _ in ranked] == ["a", "c", "d", "e"]
    assert math.isclose(ranked[0][1], math.log(0.45 * 4 / 8), rel_tol=1e-9)
    assert math.isclose(ranked[2][1], math.log(0.55 * 1 / 5), rel_tol=1e-9)
    assert math.isclose(ranked[3][1], math.log(0.45 * 1 / 8), rel_tol=1e-9)
    assert "category" in AttributesRecommender(out, recsys_baselines(out, split)[0].stats).description
