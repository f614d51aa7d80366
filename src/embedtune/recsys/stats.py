"""Item statistics from training interactions: co-occurrence, transitions, attributes and popularity, saved for serving.

The ``popularity``, ``cooccurrence``, ``transitions`` and ``attributes`` baselines (:mod:`embedtune.recsys.baselines`), the hybrid
recommender and ``embedtune recommend`` / ``POST /recommend`` all score with one :class:`ItemStats`,
computed once from the events labelled ``split == 'train'`` in ``interactions.parquet`` — the dev and
test targets never feed it — so what is served is what was evaluated.

* ``similarity``: ItemKNN with cosine normalisation, ``C[i, j] / sqrt(n_i * n_j)`` where ``C[i, j]``
  counts users with both items in their training history and ``n_i`` users with item i; zero diagonal.
* ``transitions``: what comes after an item. Each user's training events in time order (``pos``; a
  run of events on one item counts once) count every pair (item i at step s, item j at step s + d,
  i ≠ j, 1 ≤ d ≤ ``transition_window``); ``T[i, j]`` is that count over users divided by all pairs
  leaving i — the share of what followed i within the window that was j (a row-stochastic matrix).
* ``popularity``: training interactions per item (every event, repeats included).
* ``attributes``: the catalog's categorical fields with their values' shares of the training events
  (:class:`~embedtune.recsys.attributes.AttributeStats`): a history's taste over each field's values, then
  items within a value by popularity; cold items are scored by their attributes too.
* A history (distinct items, most recent first, at most ``history_items``) scores item j as
  ``sum_k recency_decay**k * similarity[h_k, j]`` for co-occurrence, and as
  ``sum_k transition_decay**k * T[h_k, j]`` over its first ``transition_history`` items for transitions;
  popularity, scaled far below either signal, breaks ties, so a history whose items never co-occur
  still gets a ranking.

Saved beside a model (``train``) or inside an index (``index build``) as a folder ``recsys/``::

    recsys/item_stats.json    {"schema_version": 3, "items": n, "users": n, "train_events": n,
                               "similarity_nnz": n, "recency_decay": 0.9, "history_items": 50,
                               "transitions_nnz": n, "transition_window": 10, "transition_history": 10,
                               "transition_decay": 0.7, "attribute_fields": [...], "attribute_alpha": 3.0,
                               "data_dir": "...", "created_at": "..."}
    recsys/item_ids.json      the item ids, in row order of the arrays
    recsys/cooccurrence.npz   scipy CSR (items × items, float32)
    recsys/transitions.npz    scipy CSR (items × items, float32; row = earlier item); since schema 2
    recsys/popularity.npy     float64 counts
    recsys/attributes.json    {"alpha", "history_items", "fields": {name: {"values", "prior", "item_values"}}}; since schema 3

A schema-1 folder (written before transitions existed) still loads; its ``transitions`` is ``None``
and :meth:`ItemStats.with_transitions` computes them from the DATA_DIR when a fusion needs them; likewise
a schema-1 or -2 folder's ``attributes`` (:meth:`ItemStats.with_attributes`).

Example::

    from embedtune.recsys.stats import ItemStats
    stats = ItemStats.from_data_dir("data/shop")
    scores = stats.cooccurrence_scores([["305", "17"]])     # (1, n_items), history most recent first
    scores = stats.transition_scores([["305", "17"]])       # what tends to come next
    scores = stats.attribute_scores([["305", "17"]])        # the history's taste over categories, brands, ...
    stats.save("models/shop")                                # → models/shop/recsys/
    ItemStats.load("models/shop")
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp

from embedtune.data.beir import read_corpus, read_manifest
from embedtune.errors import DataError, EmbedtuneError
from embedtune.fileio import atomic_dir
from embedtune.fusion import FUSION_FILE
from embedtune.recsys.attributes import AttributeStats
from embedtune.recsys.build import INTERACTIONS_FILE
from embedtune.recsys.sql import literal

STATS_DIR = "recsys"
SCHEMA_VERSION = 3
DEFAULT_RECENCY_DECAY = 0.9
DEFAULT_HISTORY_ITEMS = 50
# Transitions: chosen on MovieLens-100K's dev users (docs/benchmarks.md, "Transitions").
DEFAULT_TRANSITION_WINDOW = 10
DEFAULT_TRANSITION_HISTORY = 10
DEFAULT_TRANSITION_DECAY = 0.7
TRANSITIONS_FILE = "transitions.npz"
ATTRIBUTES_FILE = "attributes.json"
# Popularity is added to co-occurrence scores at this scale: far below any co-occurrence signal
# (at most one millionth of it), so it only orders items the history says nothing about.
POPULARITY_TIE_BREAK = 1e-6


def connect_interactions(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with view ``inter`` over the DATA_DIR's ``interactions.parquet``."""
    path = Path(data_dir) / INTERACTIONS_FILE
    if not path.is_file():
        raise EmbedtuneError(f"{path} not found: rebuild the DATA_DIR with `embedtune recsys build`")
    con = duckdb.connect()
    con.execute(f"CREATE VIEW inter AS SELECT * FROM read_parquet({literal(path)})")
    return con


def catalog_connection(data_dir: Path, item_ids: Sequence[str]) -> duckdb.DuckDBPyConnection:
    """:func:`connect_interactions` plus a registered table ``catalog(item_id, col)``: each item's column."""
    con = connect_interactions(data_dir)
    con.register("catalog", pd.DataFrame({"item_id": list(item_ids), "col": np.arange(len(item_ids), dtype=np.int64)}))
    return con


def cold_items(data_dir: str | Path, item_ids: Sequence[str], max_events: int | None = None) -> tuple[frozenset[str], int]:
    """The items of ``item_ids`` with at most ``max_events`` training events (default: the DATA_DIR's
    ``cold_threshold``, as its ``target_popularity`` slice counts them), and that threshold."""
    if max_events is None:
        max_events = cold_threshold(data_dir)
    con = connect_interactions(Path(data_dir))
    counts = dict(con.execute("SELECT item_id, count(*) FROM inter WHERE split = 'train' GROUP BY item_id").fetchall())
    con.close()
    return frozenset(i for i in item_ids if counts.get(i, 0) <= max_events), max_events


def cold_threshold(data_dir: str | Path) -> int:
    """The DATA_DIR's ``cold_threshold`` (its ``embedtune.json`` config; the documented default otherwise)."""
    from embedtune.recsys.config import RecsysConfig

    config = read_manifest(data_dir).get("config") or {}
    return int(config.get("cold_threshold", RecsysConfig.model_fields["cold_threshold"].default))


def recent_distinct(items: Sequence[str], max_items: int = DEFAULT_HISTORY_ITEMS) -> list[str]:
    """A time-ordered item list (oldest first, repeats allowed) → distinct items, most recent first."""
    seen: dict[str, None] = {}
    for item in reversed(items):
        if item not in seen:
            seen[item] = None
            if len(seen) >= max_items:
                break
    return list(seen)


def below_every(scores: np.ndarray) -> float:
    """The score given to an item the statistics never saw where scores are log-probabilities (attributes):
    one below the lowest, so it ranks last without a gap the normalisation would stretch."""
    return float(scores.min(initial=0.0)) - 1.0


@dataclass
class ItemStats:
    """Co-occurrence, transitions, attributes and popularity of catalog items, from training interactions only.

    ``transitions`` is ``None`` only for statistics loaded from a schema-1 folder, ``attributes`` for a schema-1
    or -2 folder (see the module docstring).
    """

    item_ids: list[str]
    similarity: sp.csr_matrix
    popularity: np.ndarray
    recency_decay: float = DEFAULT_RECENCY_DECAY
    history_items: int = DEFAULT_HISTORY_ITEMS
    info: dict[str, Any] = field(default_factory=dict)
    transitions: sp.csr_matrix | None = None
    transition_history: int = DEFAULT_TRANSITION_HISTORY
    transition_decay: float = DEFAULT_TRANSITION_DECAY
    attributes: AttributeStats | None = None

    def __post_init__(self) -> None:
        self.row = {item: i for i, item in enumerate(self.item_ids)}
        self._tie_break = self._popularity_tie_break(self.similarity)
        self._transition_tie_break = (self._popularity_tie_break(self.transitions)
                                      if self.transitions is not None else None)

    def _popularity_tie_break(self, matrix: sp.csr_matrix) -> np.ndarray:
        top = float(matrix.max()) if matrix.nnz else 1.0
        return POPULARITY_TIE_BREAK * self.popularity / max(float(self.popularity.max(initial=0.0)), 1.0) * top

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_data_dir(
        cls,
        data_dir: str | Path,
        item_ids: Sequence[str] | None = None,
        recency_decay: float = DEFAULT_RECENCY_DECAY,
        history_items: int = DEFAULT_HISTORY_ITEMS,
        transition_window: int = DEFAULT_TRANSITION_WINDOW,
        transition_history: int = DEFAULT_TRANSITION_HISTORY,
        transition_decay: float = DEFAULT_TRANSITION_DECAY,
    ) -> ItemStats:
        """Count the training events of a recsys DATA_DIR (``item_ids`` default: its catalog, in order)."""
        data_dir = Path(data_dir)
        if item_ids is None:
            item_ids = list(read_corpus(data_dir / "corpus.jsonl"))
        item_ids = list(item_ids)
        con = catalog_connection(data_dir, item_ids)
        # Integer codes are made in SQL so that millions of (user, item) pairs never become Python objects.
        pairs = con.execute(
            """
            SELECT dense_rank() OVER (ORDER BY p.user_id) - 1 AS u, c.col
            FROM (SELECT DISTINCT user_id, item_id FROM inter WHERE split = 'train') p JOIN catalog c USING (item_id)
            """
        ).fetchnumpy()
        counts = con.execute(
            "SELECT c.col, count(*) FROM inter i JOIN catalog c USING (item_id) WHERE i.split = 'train' GROUP BY c.col"
        ).fetchnumpy()
        n_events = int(con.execute("SELECT count(*) FROM inter WHERE split = 'train'").fetchone()[0])
        transitions = transition_matrix(con, len(item_ids), transition_window)
        con.close()
        users = np.asarray(pairs["u"], dtype=np.int64)
        cols = np.asarray(pairs["col"], dtype=np.int64)
        n_users = int(users.max()) + 1 if len(users) else 0
        popularity = np.zeros(len(item_ids), dtype=np.float64)
        popularity[np.asarray(counts["col"], dtype=np.int64)] = np.asarray(counts["count_star()"], dtype=np.float64)
        similarity = cooccurrence_similarity(users, cols, n_users, len(item_ids))
        info = {"users": n_users, "train_events": n_events, "data_dir": str(data_dir.resolve()),
                "transition_window": int(transition_window)}
        attributes = AttributeStats.from_data_dir(data_dir, item_ids, popularity)
        info["attribute_fields"] = list(attributes.fields)
        return cls(item_ids, similarity, popularity, recency_decay, history_items, info, transitions,
                   transition_history, transition_decay, attributes)

    def with_transitions(self, data_dir: str | Path) -> ItemStats:
        """These statistics, with transitions computed from ``data_dir`` when they have none (a schema-1
        folder); the co-occurrence and popularity stay the saved ones."""
        if self.transitions is not None:
            return self
        con = catalog_connection(Path(data_dir), self.item_ids)
        transitions = transition_matrix(con, len(self.item_ids), DEFAULT_TRANSITION_WINDOW)
        con.close()
        info = {**self.info, "transition_window": DEFAULT_TRANSITION_WINDOW}
        return ItemStats(self.item_ids, self.similarity, self.popularity, self.recency_decay, self.history_items,
                         info, transitions, DEFAULT_TRANSITION_HISTORY, DEFAULT_TRANSITION_DECAY, self.attributes)

    def with_attributes(self, data_dir: str | Path) -> ItemStats:
        """These statistics, with attributes read from ``data_dir``'s catalog when they have none (a schema-1
        or -2 folder), priors from the saved popularity."""
        if self.attributes is not None:
            return self
        attributes = AttributeStats.from_data_dir(data_dir, self.item_ids, self.popularity)
        return ItemStats(self.item_ids, self.similarity, self.popularity, self.recency_decay, self.history_items,
                         {**self.info, "attribute_fields": list(attributes.fields)}, self.transitions,
                         self.transition_history, self.transition_decay, attributes)

    # ---- scoring ------------------------------------------------------------------------------
    def known(self, history: Sequence[str]) -> list[str]:
        """The items of ``history`` these statistics have a row for (seen in the catalog at build time)."""
        return [item for item in history if item in self.row]

    def cooccurrence_scores(self, histories: Sequence[Sequence[str]], item_ids: Sequence[str] | None = None) -> np.ndarray:
        """Scores (len(histories) × items): co-occurrence with each history (most recent first) plus
        the popularity tie-break. Columns follow ``item_ids`` (default: these statistics' items); an
        item these statistics never saw scores 0."""
        h = self._history_matrix(histories, self.history_items, self.recency_decay)
        scores = (h @ self.similarity).toarray().astype(np.float64) + self._tie_break
        return self._align(scores, item_ids)

    def _history_matrix(self, histories: Sequence[Sequence[str]], n_items: int, decay: float) -> sp.csr_matrix:
        """Histories (most recent first) as rows of ``decay**age`` over their first ``n_items`` known items."""
        rows, cols, vals = [], [], []
        for r, history in enumerate(histories):
            for age, item in enumerate(list(history)[:n_items]):
                col = self.row.get(item)
                if col is not None:
                    rows.append(r)
                    cols.append(col)
                    vals.append(decay**age)
        # float32 like the similarity: a float64 history matrix would make scipy copy the whole similarity
        # matrix to float64 on every call (0.7 s per user at 1M users × 100k items, bench/recsys_serving_scale.py).
        return sp.csr_matrix((vals, (rows, cols)), shape=(len(histories), len(self.item_ids)), dtype=np.float32)

    def transition_scores(self, histories: Sequence[Sequence[str]], item_ids: Sequence[str] | None = None) -> np.ndarray:
        """Scores (len(histories) × items): what tends to follow each history's most recent items
        (``transition_decay**k * T[h_k, :]`` over its first ``transition_history`` items, most recent
        first) plus the popularity tie-break. Columns as in :meth:`cooccurrence_scores`."""
        if self.transitions is None or self._transition_tie_break is None:
            raise EmbedtuneError("these statistics have no transitions (schema 1): rebuild them with this embedtune")
        h = self._history_matrix(histories, self.transition_history, self.transition_decay)
        scores = (h @ self.transitions).toarray().astype(np.float64) + self._transition_tie_break
        return self._align(scores, item_ids)

    def attribute_scores(self, histories: Sequence[Sequence[str]], item_ids: Sequence[str] | None = None) -> np.ndarray:
        """Scores (len(histories) × items): the log-probability of each item under the history's taste over
        the catalog's categorical fields (:class:`~embedtune.recsys.attributes.AttributeStats`; a history's
        items these statistics never saw are skipped). Columns as in :meth:`cooccurrence_scores`."""
        if self.attributes is None:
            raise EmbedtuneError("these statistics have no attributes (schema 1 or 2): rebuild them with this embedtune")
        rows = [[self.row[i] for i in self.known(list(h))] for h in histories]
        scores = self.attributes.scores(rows)
        return self._align(scores, item_ids, fill=below_every(scores))

    def has_signal(self, part: str, history: Sequence[str]) -> bool:
        """Whether ``part`` (``cooccurrence`` or ``transitions``) has any statistic for the items of
        ``history`` (most recent first) that it reads."""
        matrix, n = ((self.similarity, self.history_items) if part == "cooccurrence"
                     else (self.transitions, self.transition_history))
        rows = [self.row[i] for i in self.known(list(history)[:n])]
        return matrix is not None and bool(rows) and matrix[rows].nnz > 0

    def popularity_scores(self, item_ids: Sequence[str] | None = None) -> np.ndarray:
        """Training interactions per item (1 × items), columns as in :meth:`cooccurrence_scores`."""
        return self._align(self.popularity[None, :].astype(np.float64), item_ids)

    def _align(self, scores: np.ndarray, item_ids: Sequence[str] | None, fill: float = 0.0) -> np.ndarray:
        if item_ids is None or list(item_ids) == self.item_ids:
            return scores
        cols = np.array([self.row.get(item, -1) for item in item_ids], dtype=np.int64)
        out = np.full((scores.shape[0], len(cols)), fill, dtype=np.float64)
        known = cols >= 0
        out[:, known] = scores[:, cols[known]]
        return out

    # ---- persistence --------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write ``folder/recsys/`` atomically (the folder is replaced whole or left as it was)."""
        target = Path(folder) / STATS_DIR
        with atomic_dir(target) as tmp:
            write_stats_files(self, tmp)
        return target

    @classmethod
    def load(cls, folder: str | Path) -> ItemStats:
        """Read ``folder/recsys/`` (a model or index folder) written by :meth:`save`."""
        base = Path(folder) / STATS_DIR
        manifest = base / "item_stats.json"
        if not manifest.is_file():
            raise EmbedtuneError(f"{folder} has no co-occurrence statistics ({manifest} not found)")
        try:
            info = json.loads(manifest.read_text(encoding="utf-8"))
            item_ids = json.loads((base / "item_ids.json").read_text(encoding="utf-8"))
            similarity = sp.load_npz(base / "cooccurrence.npz").tocsr()
            popularity = np.load(base / "popularity.npy")
            # Schema 1 had no transitions: they are computed when a fusion needs them (with_transitions).
            transitions = sp.load_npz(base / TRANSITIONS_FILE).tocsr() if info.get("schema_version", 1) >= 2 else None
            attributes_json = (json.loads((base / ATTRIBUTES_FILE).read_text(encoding="utf-8"))
                               if info.get("schema_version", 1) >= 3 else None)
        except (OSError, ValueError) as exc:
            raise DataError(base, f"cannot read the co-occurrence statistics: {exc}; retrain or rebuild the index") from None
        if info.get("schema_version", 0) > SCHEMA_VERSION:
            raise DataError(manifest, f"statistics schema {info['schema_version']} is newer than this embedtune supports")
        shapes = [similarity.shape] + ([transitions.shape] if transitions is not None else [])
        if any(shape != (len(item_ids), len(item_ids)) for shape in shapes) or len(popularity) != len(item_ids):
            raise DataError(base, f"item_ids, cooccurrence.npz, {TRANSITIONS_FILE} and popularity.npy disagree on the "
                                  "item count; rebuild them")
        attributes = (AttributeStats.from_json(attributes_json, popularity, base / ATTRIBUTES_FILE)
                      if attributes_json is not None else None)
        return cls(item_ids, similarity, popularity, float(info["recency_decay"]), int(info["history_items"]), info,
                   transitions, int(info.get("transition_history", DEFAULT_TRANSITION_HISTORY)),
                   float(info.get("transition_decay", DEFAULT_TRANSITION_DECAY)), attributes)


def write_stats_files(stats: ItemStats, folder: Path) -> None:
    """The files of ``recsys/`` into an existing (temporary) folder."""
    folder.mkdir(parents=True, exist_ok=True)
    if stats.transitions is None:
        raise EmbedtuneError("statistics without transitions cannot be saved: call with_transitions(DATA_DIR) first")
    if stats.attributes is None:
        raise EmbedtuneError("statistics without attributes cannot be saved: call with_attributes(DATA_DIR) first")
    sp.save_npz(folder / "cooccurrence.npz", stats.similarity.astype(np.float32), compressed=False)
    sp.save_npz(folder / TRANSITIONS_FILE, stats.transitions.astype(np.float32), compressed=False)
    np.save(folder / "popularity.npy", stats.popularity)
    (folder / ATTRIBUTES_FILE).write_text(json.dumps(stats.attributes.to_json(), ensure_ascii=False), encoding="utf-8")
    (folder / "item_ids.json").write_text(json.dumps(stats.item_ids, ensure_ascii=False), encoding="utf-8")
    info = {
        **{k: v for k, v in stats.info.items() if k not in ("schema_version", "items", "similarity_nnz", "transitions_nnz")},
        "schema_version": SCHEMA_VERSION,
        "items": len(stats.item_ids),
        "similarity_nnz": int(stats.similarity.nnz),
        "recency_decay": stats.recency_decay,
        "history_items": stats.history_items,
        "transitions_nnz": int(stats.transitions.nnz),
        "transition_history": stats.transition_history,
        "transition_decay": stats.transition_decay,
        "attribute_fields": list(stats.attributes.fields),
        "attribute_alpha": stats.attributes.alpha,
        "created_at": stats.info.get("created_at") or datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (folder / "item_stats.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def cooccurrence_similarity(users: np.ndarray, cols: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """Cosine-normalised item-item co-occurrence from distinct (user, item) pairs (zero diagonal, float32)."""
    x = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, cols)), shape=(max(n_users, 1), n_items)
    )
    co = (x.T @ x).tocsr()
    n = co.diagonal().astype(np.float64)  # users per item
    co.setdiag(0)
    co.eliminate_zeros()
    inv = 1.0 / np.sqrt(np.maximum(n, 1.0))
    rows = np.repeat(np.arange(n_items), np.diff(co.indptr))
    co.data = (co.data * inv[rows] * inv[co.indices]).astype(np.float32)
    co.sort_indices()
    return co


def transition_matrix(con: duckdb.DuckDBPyConnection, n_items: int, window: int) -> sp.csr_matrix:
    """What followed each item within ``window`` steps in the training events of ``inter`` (items mapped
    to columns by the registered ``catalog``), as shares of each row (float32, zero diagonal).

    Steps are counted in SQL over each user's events in ``pos`` order, after dropping out-of-catalog items
    and collapsing a run of events on one item (click, cart, buy) into one step."""
    pairs = con.execute(
        f"""
        WITH ev AS (
            SELECT i.user_id, c.col, i.pos, lag(c.col) OVER (PARTITION BY i.user_id ORDER BY i.pos) AS prev
            FROM inter i JOIN catalog c USING (item_id) WHERE i.split = 'train'),
        seq AS (
            SELECT user_id, col, row_number() OVER (PARTITION BY user_id ORDER BY pos) AS step
            FROM ev WHERE prev IS NULL OR prev <> col)
        SELECT a.col AS src, b.col AS dst, count(*) AS n
        FROM seq a JOIN seq b ON a.user_id = b.user_id AND b.step > a.step AND b.step <= a.step + {int(window)}
        WHERE a.col <> b.col
        GROUP BY a.col, b.col
        """
    ).fetchnumpy()
    src = np.asarray(pairs["src"], dtype=np.int64)
    dst = np.asarray(pairs["dst"], dtype=np.int64)
    count = np.asarray(pairs["n"], dtype=np.float64)
    leaving = np.bincount(src, weights=count, minlength=n_items)
    t = sp.csr_matrix(((count / np.maximum(leaving[src], 1.0)).astype(np.float32), (src, dst)), shape=(n_items, n_items))
    t.sort_indices()
    return t


def save_item_stats(data_dir: str | Path, folder: str | Path) -> Path:
    """Compute the statistics of a recsys DATA_DIR and save them as ``folder/recsys/`` (for train / index build)."""
    return ItemStats.from_data_dir(data_dir).save(folder)


def index_attachments(corpus: str | Path, model: str | Path | None = None) -> dict[str, Callable[[Path], None]]:
    """What ``index build`` saves beside the vectors of ``corpus``: for a recommendation DATA_DIR (or its
    ``corpus.jsonl``), ``{"recsys": writer}`` (:func:`recsys_attachment`); nothing for other corpora.
    Call it before encoding, so that a bad DATA_DIR fails before the slow part and before anything is written."""
    from embedtune.data.beir import read_manifest

    corpus = Path(corpus)
    data_dir = corpus if corpus.is_dir() else corpus.parent
    if not (data_dir / "embedtune.json").is_file() or read_manifest(data_dir).get("kind") != "recsys":
        return {}
    return {"recsys": recsys_attachment(data_dir, model)}


def recsys_attachment(data_dir: str | Path, model: str | Path | None = None) -> Callable[[Path], None]:
    """For ``index build`` on a recsys DATA_DIR: the statistics, computed now (so a bad DATA_DIR fails
    before anything is written), and a writer that puts them in the index's ``recsys/`` folder, with a
    copy of the model's ``fusion.json`` when it has one (weights and statistics then travel together)."""
    from embedtune.base_model import resolve_model_path

    stats = ItemStats.from_data_dir(data_dir)
    fusion = resolve_model_path(model) / FUSION_FILE if model is not None else None

    def write(folder: Path) -> None:
        write_stats_files(stats, folder)
        if fusion is not None and fusion.is_file():
            shutil.copy2(fusion, folder / FUSION_FILE)

    return write
