from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embedtune.errors import EmbedtuneError
from embedtune.recsys.stats import ATTRIBUTES_FILE, STATS_DIR, TRANSITIONS_FILE, ItemStats, recent_distinct
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
    assert np.allclose(back.transitions.toarray(), stats.transitions.toarray())
    assert (back.transition_history, back.transition_decay) == (stats.transition_history, stats.transition_decay)
    assert np.allclose(back.transition_scores([["b", "a"]]), stats.transition_scores([["b", "a"]]))
    info = json.loads((model / STATS_DIR / "item_stats.json").read_text())
    assert info["items"] == 6 and info["similarity_nnz"] == stats.similarity.nnz
    assert info["schema_version"] == 3 and info["transitions_nnz"] == stats.transitions.nnz == 3
    assert info["attribute_fields"] == [] and back.attributes.fields == {}  # titles only: no categorical field
    assert np.allclose(back.attribute_scores([["b", "a"]]), stats.attribute_scores([["b", "a"]]))


def test_missing_or_inconsistent_statistics_are_clear_errors(tmp_path):
    with pytest.raises(EmbedtuneError, match="has no co-occurrence statistics"):
        ItemStats.load(tmp_path)
    stats = ItemStats.from_data_dir(data_dir(tmp_path))
    stats.save(tmp_path / "m")
    (tmp_path / "m" / STATS_DIR / "item_ids.json").write_text('["a"]')
    with pytest.raises(EmbedtuneError, match="disagree on the item count"):
        ItemStats.load(tmp_path / "m")


def test_transitions_are_directional_and_hand_computed(tmp_path):
    stats = ItemStats.from_data_dir(data_dir(tmp_path))  # window 10: every later item of a sequence counts
    # Training sequences: u1 a→b, u2 a→b→c, u3 a→c, u4 b. Pairs leaving a: a→b twice (u1, u2), a→c twice
    # (u2 two steps later, u3); leaving b: b→c once. Each row is the share of what followed.
    t = stats.transitions.toarray()
    assert t[0, 1] == t[0, 2] == 0.5 and t[1, 2] == 1.0
    assert np.count_nonzero(t) == 3  # nothing flows backwards (b→a, c→a, c→b) and d, e are targets only
    # History b then a (a most recent, decay 0.7): c after a, and after b weighted 0.7; b after a.
    scores = stats.transition_scores([["a", "b"]], ["a", "b", "c", "d"])
    assert math.isclose(scores[0, 2], 0.5 + 0.7 * 1.0, rel_tol=1e-5)
    assert math.isclose(scores[0, 1], 0.5, rel_tol=1e-5)
    # Co-occurrence ranks a first after b (2 shared users); transitions rank c, which followed b.
    assert stats.transition_scores([["b"]])[0].argmax() == 2 and stats.cooccurrence_scores([["b"]])[0].argmax() == 0


def test_transitions_collapse_repeated_events_and_skip_unknown_items(tiny_shop, tmp_path):
    from embedtune.recsys.build import build_recsys

    out = build_recsys(*tiny_shop, tmp_path / "data").out_dir
    stats = ItemStats.from_data_dir(out)
    # u1 trains on i1, i2 (click), i2 (buy): one step each for i1 and i2 — i1→i2 at distance 1, not 1 + 1/2.
    # u2 trains on nothing (i1 is its dev target, i3 its test target, i9 is not in the catalog).
    t = stats.transitions.toarray()
    assert math.isclose(t[stats.row["i1"], stats.row["i2"]], 1.0, rel_tol=1e-6)
    assert np.count_nonzero(t) == 1


def test_statistics_never_read_dev_or_test_targets(tmp_path):
    data = cooccurrence_shop(tmp_path, "abcdef", categories="xxyyzz")
    clean = ItemStats.from_data_dir(data)
    # Poison every dev/test event: what they hold must not change a single statistic.
    path = data / "interactions.parquet"
    inter = pd.read_parquet(path)
    evaluated = inter["split"] != "train"
    inter.loc[evaluated, "item_id"] = np.where(inter.loc[evaluated, "pos"] % 2 == 0, "a", "c")
    inter.to_parquet(path)
    poisoned = ItemStats.from_data_dir(data)
    assert (poisoned.transitions != clean.transitions).nnz == 0
    assert (poisoned.similarity != clean.similarity).nnz == 0
    assert poisoned.popularity.tolist() == clean.popularity.tolist()
    assert list(clean.attributes.fields) == ["category"]
    assert poisoned.attributes.prior["category"].tolist() == clean.attributes.prior["category"].tolist()
    assert np.allclose(poisoned.attribute_scores([["a", "c"]]), clean.attribute_scores([["a", "c"]]))


def test_statistics_of_schema_1_still_load_and_get_transitions_from_the_data_dir(tmp_path):
    data = data_dir(tmp_path)
    stats = ItemStats.from_data_dir(data)
    stats.save(tmp_path / "m")
    folder = tmp_path / "m" / STATS_DIR
    (folder / TRANSITIONS_FILE).unlink()
    info = json.loads((folder / "item_stats.json").read_text())
    (folder / "item_stats.json").write_text(json.dumps({**info, "schema_version": 1}))
    old = ItemStats.load(tmp_path / "m")
    assert old.transitions is None
    with pytest.raises(EmbedtuneError, match="no transitions"):
        old.transition_scores([["a"]])
    completed = old.with_transitions(data)
    assert np.allclose(completed.transitions.toarray(), stats.transitions.toarray())
    assert np.allclose(completed.cooccurrence_scores([["b"]]), stats.cooccurrence_scores([["b"]]))


def test_attribute_scores_follow_the_requested_columns_and_skip_unknown_history_items(tmp_path):
    stats = ItemStats.from_data_dir(cooccurrence_shop(tmp_path, "abcdef", categories="xxyyzz"))
    # Training events a 3, b 3, c 2 (d, e: dev/test targets only, f: never met). Categories x {a, b}, y {c, d}, z {e, f}.
    assert stats.attributes.prior["category"].tolist() == [7 / 11, 3 / 11, 1 / 11]
    scores = stats.attribute_scores([["c", "new"]], ["d", "a", "new"])
    p_y = (1 + 3 * 3 / 11) / (1 + 3)
    assert math.isclose(scores[0, 0], math.log(p_y * 1 / 4), rel_tol=1e-9)  # d: 1 of c's and d's 3 + 1 events
    assert scores[0, 2] < scores[0, :2].min()  # an item the statistics never saw comes last
    assert np.allclose(stats.attribute_scores([["c"]]), stats.attribute_scores([["new", "c"]]))


def test_statistics_of_schema_2_still_load_and_get_attributes_from_the_data_dir(tmp_path):
    data = cooccurrence_shop(tmp_path, "abcdef", categories="xxyyzz")
    stats = ItemStats.from_data_dir(data)
    stats.save(tmp_path / "m")
    folder = tmp_path / "m" / STATS_DIR
    (folder / ATTRIBUTES_FILE).unlink()
    info = json.loads((folder / "item_stats.json").read_text())
    (folder / "item_stats.json").write_text(json.dumps({**info, "schema_version": 2}))
    old = ItemStats.load(tmp_path / "m")
    assert old.attributes is None and old.transitions is not None
    with pytest.raises(EmbedtuneError, match="no attributes"):
        old.attribute_scores([["a"]])
    with pytest.raises(EmbedtuneError, match="call with_attributes"):
        old.save(tmp_path / "again")
    completed = old.with_attributes(data)
    assert np.allclose(completed.attribute_scores([["c", "a"]]), stats.attribute_scores([["c", "a"]]))
