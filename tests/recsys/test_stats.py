from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from embedtune.errors import EmbedtuneError
from embedtune.recsys.stats import STATS_DIR, ItemStats, recent_distinct
from tests.recsys.conftest import cooccurrence_shop


def data_dir(tmp_path: Path) -> Path:
    # COOCCURRENCE_ROWS: u1 {a,b}, u2 {a,b,c}, u3 {a,c}, u4 {b} in training; f is in the catalog, nobody met it.
    return cooccurrence_shop(tmp_path, "abcdef")


def test_statistics_count_training_interactions_only(tmp_path):
    stats = ItemStats.from_data_dir(data_dir(tmp_path))
    assert stats.item_ids == ["a", "b", "c", "d", "e", "f"]
    # d and e are only ever dev/test targets: no popularity, no co-occurrence.
    assert stats.popularity.tolist() == [3, 3, 2, 0, 0, 0]
    sim = stats.similarity.toarray()
    assert sim[3].sum() == sim[4].sum() == sim[:, 3].sum() == 0
    assert np.allclose(np.diag(sim), 0)
    assert math.isclose(sim[0, 1], 2 / 3, rel_tol=1e-6)  # a, b: 2 common users of 3 and 3
    assert math.isclose(sim[1, 2], 1 / math.sqrt(6), rel_tol=1e-6)
    assert stats.info["users"] == 4 and stats.info["train_events"] == 8


def test_history_scores_decay_with_age_and_follow_the_requested_columns(tmp_path):
    stats = ItemStats.from_data_dir(data_dir(tmp_path))
    scores = stats.cooccurrence_scores([["c", "b"]], ["a", "new", "c"])  # c most recent, then b (weight 0.9)
    s_ac, s_ab = 2 / math.sqrt(6), 2 / 3
    assert scores.shape == (1, 3)
    assert math.isclose(scores[0, 0], s_ac + 0.9 * s_ab, rel_tol=1e-5)
    assert scores[0, 1] == 0.0  # an item the statistics never saw
    assert stats.popularity_scores(["b", "new"]).tolist() == [[3.0, 0.0]]


def test_recent_distinct_keeps_the_last_occurrence_most_recent_first():
    assert recent_distinct(["a", "b", "a", "c", "b"]) == ["b", "c", "a"]
    assert recent_distinct(["a", "b", "c"], max_items=2) == ["c", "b"]


def test_saved_statistics_round_trip_and_replace_the_folder_whole(tmp_path):
    stats = ItemStats.from_data_dir(data_dir(tmp_path))
    model = tmp_path / "model"
    (model / STATS_DIR).mkdir(parents=True)
    (model / STATS_DIR / "stale.txt").write_text("old")
    stats.save(model)
    assert not (model / STATS_DIR / "stale.txt").exists()
    back = ItemStats.load(model)
    assert back.item_ids == stats.item_ids
    assert np.allclose(back.similarity.toarray(), stats.similarity.toarray())
    assert back.popularity.tolist() == stats.popularity.tolist()
    assert (back.recency_decay, back.history_items) == (stats.recency_decay, stats.history_items)
    assert np.allclose(back.cooccurrence_scores([["b", "a"]]), stats.cooccurrence_scores([["b", "a"]]))
    info = json.loads((model / STATS_DIR / "item_stats.json").read_text())
    assert info["items"] == 6 and info["similarity_nnz"] == stats.similarity.nnz


def test_missing_or_inconsistent_statistics_are_clear_errors(tmp_path):
    with pytest.raises(EmbedtuneError, match="has no co-occurrence statistics"):
        ItemStats.load(tmp_path)
    stats = ItemStats.from_data_dir(data_dir(tmp_path))
    stats.save(tmp_path / "m")
    (tmp_path / "m" / STATS_DIR / "item_ids.json").write_text('["a"]')
    with pytest.raises(EmbedtuneError, match="disagree on the item count"):
        ItemStats.load(tmp_path / "m")
