"""Recommendation baselines that any learned model has to beat, from training interactions only.

* ``popularity``: items ranked by their number of training interactions (RecBole's Pop).
* ``cooccurrence``: item-to-item co-occurrence (ItemKNN with cosine normalisation,
  ``C[i, j] / sqrt(n_i * n_j)`` over users' training histories), scored for a query by summing the
  rows of the items in that user's history before the target, recent items weighted more
  (``recency_decay ** k`` for the k-th most recent distinct item); popularity breaks ties, so a
  user whose items never co-occur still gets a ranking.

Counts come only from events labelled ``split == 'train'`` in ``interactions.parquet``; a query's own
history is the user's events strictly before its target, as in the profile. Both systems never return
an item in ``split.exclude[query_id]``; ties are broken by item id.

Example::

    from embedtune.data import load_retrieval_split
    from embedtune.recsys.baselines import recsys_baselines
    split = load_retrieval_split("data/shop", "test")
    for system in recsys_baselines(Path("data/shop"), split):
        run = system.rank(split, k=10)
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import scipy.sparse as sp

from embedtune.data.records import RetrievalSplit
from embedtune.data.runs import RankingSystem, Run, top_k_from_scores
from embedtune.errors import EmbedtuneError
from embedtune.recsys.build import INTERACTIONS_FILE
from embedtune.recsys.sql import literal

DEFAULT_RECENCY_DECAY = 0.9
DEFAULT_HISTORY_ITEMS = 50
# Popularity is added to co-occurrence scores at this scale: far below any co-occurrence signal
# (at most one millionth of it), so it only orders items the history says nothing about.
POPULARITY_TIE_BREAK = 1e-6


def _read_interactions(data_dir: Path) -> duckdb.DuckDBPyConnection:
    path = data_dir / INTERACTIONS_FILE
    if not path.is_file():
        raise EmbedtuneError(f"{path} not found: rebuild the DATA_DIR with `embedtune recsys build`")
    con = duckdb.connect()
    con.execute(f"CREATE VIEW inter AS SELECT * FROM read_parquet({literal(path)})")
    return con


def training_counts(data_dir: Path, item_ids: list[str]) -> np.ndarray:
    """Number of training interactions of each item, aligned with ``item_ids``."""
    con = _read_interactions(data_dir)
    counts = dict(con.execute("SELECT item_id, count(*) FROM inter WHERE split = 'train' GROUP BY item_id").fetchall())
    con.close()
    return np.array([counts.get(i, 0) for i in item_ids], dtype=np.float64)


def query_histories(data_dir: Path, query_ids: list[str], max_items: int = DEFAULT_HISTORY_ITEMS) -> dict[str, list[str]]:
    """For each query: the user's distinct items strictly before its target, most recent first."""
    con = _read_interactions(data_dir)
    con.execute("CREATE TEMP TABLE wanted (query_id VARCHAR)")
    con.executemany("INSERT INTO wanted VALUES (?)", [(q,) for q in query_ids])
    rows = con.execute(
        f"""
        WITH t AS (
            SELECT i.query_id, i.user_id, i.ts FROM inter i JOIN wanted w USING (query_id)),
        h AS (
            SELECT t.query_id, e.item_id, max(e.pos) AS last
            FROM t JOIN inter e ON e.user_id = t.user_id AND e.ts < t.ts
            GROUP BY t.query_id, e.item_id
            QUALIFY row_number() OVER (PARTITION BY t.query_id ORDER BY max(e.pos) DESC) <= {int(max_items)})
        SELECT query_id, list(item_id ORDER BY last DESC) FROM h GROUP BY query_id
        """
    ).fetchall()
    con.close()
    histories = {q: [] for q in query_ids}
    histories.update({q: list(items) for q, items in rows})
    return histories


class PopularityRecommender:
    """Most-interacted items in the training events first, the same list for every user."""

    name = "popularity"
    description = "items ranked by number of training interactions (same list for every user)"

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)

    def rank(self, split: RetrievalSplit, k: int) -> Run:
        doc_ids = list(split.corpus)
        pop = training_counts(self.data_dir, doc_ids)
        query_ids = split.query_ids
        run: Run = {}
        for start in range(0, len(query_ids), 1024):
            chunk = query_ids[start : start + 1024]
            scores = np.broadcast_to(pop, (len(chunk), len(doc_ids)))
            run.update(top_k_from_scores(scores, chunk, doc_ids, k, split.exclude))
        return run


class CooccurrenceRecommender:
    """Item-kNN: items that co-occur with the user's recent items in training histories."""

    name = "cooccurrence"

    def __init__(
        self, data_dir: str | Path, recency_decay: float = DEFAULT_RECENCY_DECAY, history_items: int = DEFAULT_HISTORY_ITEMS
    ):
        self.data_dir = Path(data_dir)
        self.recency_decay = recency_decay
        self.history_items = history_items
        self.description = (
            "item-to-item co-occurrence (cosine-normalised ItemKNN) from training interactions, summed over the "
            f"user's last {history_items} items weighted {recency_decay}^age; popularity breaks ties"
        )

    def similarity(self, doc_ids: list[str]) -> sp.csr_matrix:
        """Cosine-normalised item-item co-occurrence over users' training histories (zero diagonal)."""
        index = {d: i for i, d in enumerate(doc_ids)}
        con = _read_interactions(self.data_dir)
        pairs = con.execute("SELECT DISTINCT user_id, item_id FROM inter WHERE split = 'train'").fetchall()
        con.close()
        users: dict[str, int] = {}
        rows, cols = [], []
        for user, item in pairs:
            if item in index:
                rows.append(users.setdefault(user, len(users)))
                cols.append(index[item])
        x = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(max(len(users), 1), len(doc_ids)))
        co = (x.T @ x).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        n = np.asarray(x.sum(axis=0)).ravel()
        inv = 1.0 / np.sqrt(np.maximum(n, 1.0))
        return (sp.diags(inv) @ co @ sp.diags(inv)).tocsr()

    def rank(self, split: RetrievalSplit, k: int) -> Run:
        doc_ids = list(split.corpus)
        index = {d: i for i, d in enumerate(doc_ids)}
        sim = self.similarity(doc_ids)
        pop = training_counts(self.data_dir, doc_ids)
        tie_break = POPULARITY_TIE_BREAK * pop / max(pop.max(), 1.0) * (sim.max() if sim.nnz else 1.0)
        query_ids = split.query_ids
        histories = query_histories(self.data_dir, query_ids, self.history_items)
        run: Run = {}
        for start in range(0, len(query_ids), 1024):
            chunk = query_ids[start : start + 1024]
            rows, cols, vals = [], [], []
            for r, qid in enumerate(chunk):
                for age, item in enumerate(histories.get(qid, [])):
                    if item in index:
                        rows.append(r)
                        cols.append(index[item])
                        vals.append(self.recency_decay**age)
            h = sp.csr_matrix((vals, (rows, cols)), shape=(len(chunk), len(doc_ids)), dtype=np.float64)
            scores = np.asarray((h @ sim).todense()) + tie_break
            run.update(top_k_from_scores(scores, chunk, doc_ids, k, split.exclude))
        return run


def recsys_baselines(data_dir: Path, split: RetrievalSplit) -> list[RankingSystem]:
    """The baselines of a recsys DATA_DIR (called by the evaluator when the manifest kind is recsys)."""
    data_dir = Path(data_dir)
    if not (data_dir / INTERACTIONS_FILE).is_file():
        raise EmbedtuneError(f"{data_dir / INTERACTIONS_FILE} not found: rebuild with `embedtune recsys build`")
    return [PopularityRecommender(data_dir), CooccurrenceRecommender(data_dir)]
