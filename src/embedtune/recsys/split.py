"""Targets and splits: which interactions become training pairs and which become evaluation queries.

A *target* is the first time a user meets an item (later clicks, carts and buys of the same item
feed the profile but are not new targets): recommending an item the user already has is not what
a recommender is judged on, and items in the user's history are excluded from ranking by default.

* ``leave_one_out`` (the protocol of SASRec/UniSRec papers): per user, the last new item → test,
  the second-last → dev, all earlier ones → train — except those at the same instant as the user's
  first evaluation target (common in MovieLens, where many ratings share a second): their profile
  would be the very text of the dev/test query, so they are left out and counted. A user with a single item cannot be evaluated
  and is counted.
* ``time_cut``: per user, the first new item at or after the cut → test, the last new item before
  it → dev, earlier ones → train.

Every event gets a ``split`` label: ``train`` when it happened strictly before the user's dev target
(or test target when there is no dev), ``dev`` before the test target, ``test`` from then on.
Baselines count only ``train`` events. All of it is DuckDB SQL over the ``events`` table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb

from embedtune.errors import EmbedtuneError
from embedtune.recsys.config import RecsysConfig

log = logging.getLogger(__name__)

HISTORY_BUCKETS = ((0, 0, "0"), (1, 5, "1-5"), (6, 20, "6-20"), (21, 50, "21-50"), (51, None, "51+"))


@dataclass
class SplitReport:
    k_core_removed_events: int = 0
    users: int = 0
    single_item_users: int = 0
    train_targets: int = 0
    train_targets_capped: int = 0
    train_targets_tied: int = 0
    dev_queries: int = 0
    test_queries: int = 0
    time_cut: float | None = None

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def apply_k_core(con: duckdb.DuckDBPyConnection, k: int, max_rounds: int = 100) -> int:
    """Drop events until every user and every item has at least ``k`` distinct partners."""
    if k <= 1:
        return 0
    before = int(con.execute("SELECT count(*) FROM events").fetchone()[0])
    for _ in range(max_rounds):
        removed = con.execute(
            f"""
            DELETE FROM events WHERE user_id IN (
                SELECT user_id FROM events GROUP BY user_id HAVING count(DISTINCT item_id) < {k})
            OR item_id IN (
                SELECT item_id FROM events GROUP BY item_id HAVING count(DISTINCT user_id) < {k})
            """
        ).fetchone()[0]
        if not removed:
            break
    after = int(con.execute("SELECT count(*) FROM events").fetchone()[0])
    if after == 0:
        raise EmbedtuneError(f"the {k}-core of this log is empty: lower --k-core")
    return before - after


def _parse_cut(con: duckdb.DuckDBPyConnection, cut: float | str | None) -> float:
    if cut is None:
        return float(con.execute("SELECT quantile_cont(ts, 0.9) FROM events").fetchone()[0])
    if isinstance(cut, int | float):
        return float(cut)
    value = con.execute("SELECT COALESCE(TRY_CAST(? AS DOUBLE), epoch(TRY_CAST(? AS TIMESTAMP)))", [cut, cut]).fetchone()[0]
    if value is None:
        raise EmbedtuneError(f"time cut {cut!r} is neither a number nor a date")
    return float(value)


def order_events(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``ev``: events with ``pos`` (0-based, per user, by time then file order) and ``hist_len``.

    ``hist_len`` is the number of the user's events strictly before this one's timestamp, so a profile
    for a target uses events ``pos < hist_len`` and never an event at the same instant or later.
    """
    con.execute(
        """
        CREATE OR REPLACE TABLE ev AS
        SELECT *, min(pos) OVER (PARTITION BY user_id, ts) AS hist_len
        FROM (SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY ts, src_row) - 1 AS pos FROM events)
        """
    )


def make_targets(con: duckdb.DuckDBPyConnection, config: RecsysConfig) -> SplitReport:
    """Create ``targets(query_id, user_id, item_id, pos, hist_len, ts, split)`` and label ``ev.split``."""
    report = SplitReport()
    order_events(con)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE firsts AS
        SELECT user_id, item_id, pos, hist_len, ts,
               row_number() OVER (PARTITION BY user_id ORDER BY pos) - 1 AS k,
               count(*) OVER (PARTITION BY user_id) AS n_items
        FROM (
            SELECT user_id, item_id, pos, hist_len, ts FROM ev
            QUALIFY row_number() OVER (PARTITION BY user_id, item_id ORDER BY pos) = 1)
        """
    )
    if config.split == "leave_one_out":
        label = """CASE WHEN n_items >= 2 AND k = n_items - 1 THEN 'test'
                        WHEN n_items >= 3 AND k = n_items - 2 THEN 'dev'
                        ELSE 'train' END"""
    else:
        cut = _parse_cut(con, config.time_cut)
        report.time_cut = cut
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE firsts AS
            SELECT *, count(*) FILTER (WHERE ts < {cut!r}) OVER (PARTITION BY user_id) AS n_before,
                   min(k) FILTER (WHERE ts >= {cut!r}) OVER (PARTITION BY user_id) AS k_after
            FROM firsts
            """
        )
        label = f"""CASE WHEN k = k_after AND hist_len >= 1 THEN 'test'
                        WHEN ts >= {repr(cut)} THEN 'unused'
                        WHEN n_before >= 2 AND k = n_before - 1 THEN 'dev'
                        ELSE 'train' END"""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE labelled AS
        SELECT *, min(ts) FILTER (WHERE split <> 'train') OVER (PARTITION BY user_id) AS t_eval
        FROM (SELECT *, {label} AS split FROM firsts)
        """
    )
    # Training targets need a history to learn from and must happen strictly before the user's first
    # evaluation target: one at the same instant would share its profile text with the dev/test query.
    # The most recent ones per user are kept.
    con.execute(
        f"""
        CREATE OR REPLACE TABLE targets AS
        SELECT 'u' || user_id || '@' || k AS query_id, user_id, item_id, pos, hist_len, ts, split
        FROM labelled
        WHERE split IN ('dev', 'test')
           OR (split = 'train' AND hist_len >= 1 AND (t_eval IS NULL OR ts < t_eval))
        QUALIFY split <> 'train'
             OR row_number() OVER (PARTITION BY user_id, split ORDER BY pos DESC) <= {config.max_train_per_user}
        """
    )
    # Event labels: strictly before the user's first evaluation target → train.
    con.execute(
        """
        CREATE OR REPLACE TABLE ev AS
        SELECT ev.*, CASE WHEN b.t_dev IS NOT NULL AND ev.ts >= b.t_test THEN 'test'
                          WHEN b.t_dev IS NULL AND b.t_test IS NOT NULL AND ev.ts >= b.t_test THEN 'test'
                          WHEN b.t_dev IS NOT NULL AND ev.ts >= b.t_dev THEN 'dev'
                          ELSE 'train' END AS split
        FROM ev LEFT JOIN (
            SELECT user_id, min(ts) FILTER (WHERE split = 'dev') AS t_dev,
                   COALESCE(min(ts) FILTER (WHERE split = 'test'), min(ts) FILTER (WHERE split = 'unused')) AS t_test
            FROM labelled GROUP BY user_id
        ) b USING (user_id)
        """
    )
    stats = con.execute(
        """
        SELECT count(DISTINCT user_id),
               count(DISTINCT user_id) FILTER (WHERE n_items = 1),
               count(*) FILTER (WHERE split = 'train' AND hist_len >= 1 AND (t_eval IS NULL OR ts < t_eval)),
               count(*) FILTER (WHERE split = 'train' AND hist_len >= 1 AND ts >= t_eval)
        FROM labelled
        """
    ).fetchone()
    report.users, report.single_item_users, all_train, report.train_targets_tied = (int(x) for x in stats)
    counts = dict(con.execute("SELECT split, count(*) FROM targets GROUP BY split").fetchall())
    report.train_targets = int(counts.get("train", 0))
    report.train_targets_capped = all_train - report.train_targets
    report.dev_queries = int(counts.get("dev", 0))
    report.test_queries = int(counts.get("test", 0))
    if report.test_queries == 0:
        raise EmbedtuneError(
            "no user has two or more distinct items, so nothing can be evaluated "
            f"({report.single_item_users:,} users with a single item)"
        )
    if report.single_item_users:
        log.info("%d users have a single item and cannot be evaluated", report.single_item_users)
    return report


def history_bucket_sql(column: str) -> str:
    parts = []
    for low, high, name in HISTORY_BUCKETS:
        cond = f"{column} >= {low}" + (f" AND {column} <= {high}" if high is not None else "")
        parts.append(f"WHEN {cond} THEN '{name}'")
    return "CASE " + " ".join(parts) + " END"
