from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from embedtune.data import load_retrieval_split
from embedtune.errors import EmbedtuneError
from embedtune.recsys.build import build_recsys
from embedtune.recsys.config import RecsysConfig
from tests.recsys.conftest import TINY_ITEMS, write


def qrels(out: Path, split: str) -> list[tuple[str, str]]:
    return [tuple(line.split("\t")[:2]) for line in (out / "qrels" / f"{split}.tsv").read_text().splitlines()[1:]]


def test_leave_one_out_on_the_tiny_shop(tiny_shop, tmp_path):
    out = tmp_path / "data"
    report = build_recsys(*tiny_shop, out)
    # u1 meets i1, i2, i3, i4 (i2 twice): i4 → test, i3 → dev, i2 → train (i1 has no history: not a pair).
    assert qrels(out, "test") == [("uu1@3", "i4"), ("uu2@1", "i3")]
    assert qrels(out, "dev") == [("uu1@2", "i3")]
    assert qrels(out, "train") == [("uu1@1", "i2")]
    assert report.split.single_item_users == 1  # u3
    test = load_retrieval_split(out, "test")
    assert test.exclude == {"uu1@3": {"i1", "i2", "i3"}, "uu2@1": {"i1"}}
    inter = pd.read_parquet(out / "interactions.parquet")
    u1 = inter[inter.user_id == "u1"]
    # Events strictly before the dev target are train; from the dev target on dev; from the test target on test.
    assert list(u1.split) == ["train", "train", "train", "dev", "test"]
    assert list(inter[inter.user_id == "u3"].split) == ["train"]
    assert (out / "slices" / "test.tsv").read_text().splitlines()[1:3] == [
        "uu1@3\thistory_length\t1-5", "uu1@3\ttarget_popularity\tcold"]


def test_split_sizes_on_a_generated_shop(tmp_path):
    from embedtune.recsys.generate import generate_shop, write_shop

    paths = write_shop(generate_shop(n_users=120, n_items=80, events_per_user=12, seed=3), tmp_path / "raw")
    out = tmp_path / "data"
    report = build_recsys(paths["log"], paths["items"], out, config=RecsysConfig(max_train_per_user=4))
    inter = pd.read_parquet(out / "interactions.parquet")
    distinct = inter.groupby("user_id").item_id.nunique()
    assert report.split.test_queries == int((distinct >= 2).sum()) == len(qrels(out, "test"))
    assert report.split.dev_queries == int((distinct >= 3).sum()) == len(qrels(out, "dev"))
    per_user = pd.Series([q.rsplit("@", 1)[0] for q, _ in qrels(out, "train")]).value_counts()
    assert per_user.max() == 4  # the cap
    assert report.split.train_targets == len(qrels(out, "train"))
    # A query's target is never in its own exclusion list, and every query has a target.
    for split in ("dev", "test"):
        ret = load_retrieval_split(out, split)
        for qid in ret.query_ids:
            assert not ret.relevant(qid) & ret.exclude.get(qid, set())


def test_time_cut_puts_first_new_item_after_the_cut_in_test(tmp_path):
    log = write(tmp_path / "log.csv", "user_id,item_id,timestamp\n" + "".join(
        f"{u},{i},{t}\n" for u, i, t in [("a", "i1", 1), ("a", "i2", 2), ("a", "i3", 3), ("a", "i4", 10), ("a", "i5", 11),
                                         ("b", "i2", 1), ("b", "i1", 12)]))
    out = tmp_path / "data"
    report = build_recsys(log, write(tmp_path / "items.csv", TINY_ITEMS), out,
                          config=RecsysConfig(split="time_cut", time_cut=5))
    assert report.split.time_cut == 5.0
    assert qrels(out, "test") == [("ua@3", "i4"), ("ub@1", "i1")]
    assert qrels(out, "dev") == [("ua@2", "i3")]
    assert qrels(out, "train") == [("ua@1", "i2")]


def test_k_core_drops_sparse_users_and_items(tmp_path):
    rows = [("a", "i1"), ("a", "i2"), ("b", "i1"), ("b", "i2"), ("c", "i1"), ("c", "i3")]
    log = write(tmp_path / "log.csv", "user_id,item_id,timestamp\n" + "".join(
        f"{u},{i},{t}\n" for t, (u, i) in enumerate(rows)))
    out = tmp_path / "data"
    report = build_recsys(log, write(tmp_path / "items.csv", TINY_ITEMS), out, config=RecsysConfig(k_core=2))
    # i3 has one user → dropped; then c has one item → dropped.
    assert report.split.k_core_removed_events == 2
    assert set(pd.read_parquet(out / "interactions.parquet").user_id) == {"a", "b"}


def test_only_single_item_users_cannot_be_evaluated(tmp_path):
    log = write(tmp_path / "log.csv", "user_id,item_id,timestamp\na,i1,1\na,i1,2\nb,i2,1\n")
    with pytest.raises(EmbedtuneError, match=r"nothing can be evaluated \(2 users with a single item\)"):
        build_recsys(log, write(tmp_path / "items.csv", TINY_ITEMS), tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_training_targets_at_the_instant_of_an_evaluation_target_are_left_out(tmp_path):
    # MovieLens-style: a, b, c, d rated in the same second. Leave-one-out makes d test and c dev; a and b
    # would share the dev/test profile text (nothing before that second but i1), so they are not trained on.
    rows = [("u", "i1", 1), ("u", "i2", 5), ("u", "i3", 5), ("u", "i4", 5), ("u", "i5", 5)]
    log = write(tmp_path / "log.csv", "user_id,item_id,timestamp\n" + "".join(f"{u},{i},{t}\n" for u, i, t in rows))
    out = tmp_path / "data"
    report = build_recsys(log, write(tmp_path / "items.csv", TINY_ITEMS), out)
    assert qrels(out, "test") == [("uu@4", "i5")] and qrels(out, "dev") == [("uu@3", "i4")]
    assert qrels(out, "train") == []
    assert report.split.train_targets_tied == 2
    assert list(pd.read_parquet(out / "interactions.parquet").split) == ["train", "test", "test", "test", "test"]
