"""Recommendation baselines that any learned model has to beat, from training interactions only.

* ``popularity``: items ranked by their number of training interactions (RecBole's Pop).
* ``cooccurrence``: item-to-item co-occurrence (ItemKNN with cosine normalisation,
  ``C[i, j] / sqrt(n_i * n_j)`` over users' training histories), scored for a query by summing the
  rows of the items in that user's history before the target, recent items weighted more
  (``recency_decay ** k`` for the k-th most recent distinct item); popularity breaks ties, so a
  user whose items never co-occur still gets a ranking.
* ``transitions``: what tends to come next — for each item, the share of what followed it within
  ``transition_window`` steps of users' time-ordered training events (a row-stochastic item × item
  matrix), scored from the user's last ``transition_history`` items (``transition_decay ** k``);
  popularity breaks ties.
  Leave-one-out targets are a user's *next* item, which a symmetric co-occurrence cannot tell from
  an earlier one.
* ``attributes``: the user's taste over the catalog's categorical fields (category, brand, genre, ...:
  :mod:`embedtune.recsys.attributes`) from their last 50 items, shrunk toward the training events' shares,
  then items within each value by popularity. It pools users by what items *are*, which item-to-item
  statistics cannot, and scores cold items by their attributes.

All four score with :class:`~embedtune.recsys.stats.ItemStats` (counts only from events labelled ``split ==
'train'`` in ``interactions.parquet``), the statistics ``train`` and ``index build`` save for serving;
a query's own history is the user's events strictly before its target, as in the profile. No system returns
an item in ``split.exclude[query_id]``; ties are broken by item id.

Example::

    from embedtune.data import load_retrieval_split
    from embedtune.recsys.baselines import recsys_baselines
    split = load_retrieval_split("data/shop", "test")
    for system in recsys_baselines(Path("data/shop"), split):
        run = system.rank(split, k=10)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from embedtune.data.records import RetrievalSplit
from embedtune.data.runs import RankingSystem, Run, top_k_from_scores
from embedtune.errors import EmbedtuneError
from embedtune.recsys.attributes import DEFAULT_HISTORY_ITEMS as ATTRIBUTE_HISTORY_ITEMS
from embedtune.recsys.build import INTERACTIONS_FILE
from embedtune.recsys.stats import (
    DEFAULT_HISTORY_ITEMS,
    DEFAULT_RECENCY_DECAY,
    DEFAULT_TRANSITION_DECAY,
    DEFAULT_TRANSITION_HISTORY,
    DEFAULT_TRANSITION_WINDOW,
    ItemStats,
    connect_interactions,
)


def query_histories(data_dir: Path, query_ids: list[str], max_items: int = DEFAULT_HISTORY_ITEMS) -> dict[str, list[str]]:
    """For each query: the user's distinct items strictly before its target, most recent first."""
    con = connect_interactions(data_dir)
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

    def __init__(self, data_dir: str | Path, stats: ItemStats | None = None):
        self.data_dir = Path(data_dir)
        self.stats = stats

    def rank(self, split: RetrievalSplit, k: int) -> Run:
        doc_ids = list(split.corpus)
        stats = self.stats or ItemStats.from_data_dir(self.data_dir, doc_ids)
        pop = stats.popularity_scores(doc_ids)[0]
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
        self, data_dir: str | Path, recency_decay: float = DEFAULT_RECENCY_DECAY, history_items: int = DEFAULT_HISTORY_ITEMS,
        stats: ItemStats | None = None,
    ):
        self.data_dir = Path(data_dir)
        self.recency_decay = stats.recency_decay if stats else recency_decay
        self.history_items = stats.history_items if stats else history_items
        self.stats = stats
        self.description = (
            "item-to-item co-occurrence (cosine-normalised ItemKNN) from training interactions, summed over the "
            f"user's last {self.history_items} items weighted {self.recency_decay}^age; popularity breaks ties"
        )

    def rank(self, split: RetrievalSplit, k: int) -> Run:
        doc_ids = list(split.corpus)
        stats = self.stats or ItemStats.from_data_dir(self.data_dir, doc_ids, self.recency_decay, self.history_items)
        return rank_by_history(self.data_dir, split, k, self.history_items, stats.cooccurrence_scores)


class TransitionsRecommender:
    """Item-to-next-item: items that followed the user's most recent items in training sequences."""

    name = "transitions"

    def __init__(self, data_dir: str | Path, stats: ItemStats | None = None):
        self.data_dir = Path(data_dir)
        self.stats = stats
        history = stats.transition_history if stats else DEFAULT_TRANSITION_HISTORY
        decay = stats.transition_decay if stats else DEFAULT_TRANSITION_DECAY
        window = stats.info.get("transition_window", DEFAULT_TRANSITION_WINDOW) if stats else DEFAULT_TRANSITION_WINDOW
        self.description = (
            f"item-to-next-item transitions: the share of what followed each item within {window} steps of users' "
            f"time-ordered training events, summed over the user's last {history} items weighted {decay}^age; "
            "popularity breaks ties"
        )

    def rank(self, split: RetrievalSplit, k: int) -> Run:
        stats = self.stats or ItemStats.from_data_dir(self.data_dir, list(split.corpus))
        return rank_by_history(self.data_dir, split, k, stats.transition_history, stats.transition_scores)


class AttributesRecommender:
    """Items whose categorical fields match the user's taste, revealed by their history, popular ones first."""

    name = "attributes"

    def __init__(self, data_dir: str | Path, stats: ItemStats | None = None):
        self.data_dir = Path(data_dir)
        self.stats = stats
        attributes = stats.attributes if stats else None
        fields = f" ({', '.join(attributes.fields)})" if attributes and attributes.fields else ""
        history = attributes.history_items if attributes else ATTRIBUTE_HISTORY_ITEMS
        self.description = (
            f"the user's taste over the catalog's categorical fields{fields} from their last {history} items, shrunk "
            "toward the training events' shares; within a value, items by training popularity"
        )

    def rank(self, split: RetrievalSplit, k: int) -> Run:
        stats = self.stats or ItemStats.from_data_dir(self.data_dir, list(split.corpus))
        if stats.attributes is None:
            stats = stats.with_attributes(self.data_dir)
        return rank_by_history(self.data_dir, split, k, stats.attributes.history_items, stats.attribute_scores)


def rank_by_history(
    data_dir: Path, split: RetrievalSplit, k: int, history_items: int,
    score: Callable[[list[list[str]], list[str]], np.ndarray],
) -> Run:
    """Top ``k`` per query of ``score(histories, doc_ids)``, each query's history being its user's last
    ``history_items`` distinct items before the target (most recent first); excluded items left out."""
    doc_ids = list(split.corpus)
    query_ids = split.query_ids
    histories = query_histories(data_dir, query_ids, history_items)
    run: Run = {}
    for start in range(0, len(query_ids), 1024):
        chunk = query_ids[start : start + 1024]
        run.update(top_k_from_scores(score([histories.get(q, []) for q in chunk], doc_ids), chunk, doc_ids, k,
                                     split.exclude))
    return run


def recsys_baselines(data_dir: Path, split: RetrievalSplit) -> list[RankingSystem]:
    """The baselines of a recsys DATA_DIR (called by the evaluator when the manifest kind is recsys)."""
    data_dir = Path(data_dir)
    if not (data_dir / INTERACTIONS_FILE).is_file():
        raise EmbedtuneError(f"{data_dir / INTERACTIONS_FILE} not found: rebuild with `embedtune recsys build`")
    stats = ItemStats.from_data_dir(data_dir, list(split.corpus))
    return [PopularityRecommender(data_dir, stats), CooccurrenceRecommender(data_dir, stats=stats),
            TransitionsRecommender(data_dir, stats), AttributesRecommender(data_dir, stats)]
