"""Index storage: the on-disk folder (``docs/index.md``), :class:`VectorIndex` in memory, search and updates.

Exact search (inner product over unit vectors = cosine) is the default; an HNSW graph (faiss) answers
large indexes. Vectors are float32, float16 or int8 (per-dimension scale). Beside the vectors, a
lexical part (:mod:`~embedtune.index.lexical`: BM25 over the same rows) answers keyword searches.
Updates append rows and tombstone replaced or deleted ones; :meth:`VectorIndex.compact` drops them.
Saving goes through :func:`embedtune.fileio.atomic_dir`: a folder is replaced whole or not at all.
Rankings are ordered by (-score, document id), as evaluation orders them.
"""

from __future__ import annotations

import json
import logging
import mmap
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from embedtune.data.records import Document
from embedtune.errors import DataError, EmbedtuneError
from embedtune.fileio import atomic_dir, check_output_dir, read_json_model, recover_dir
from embedtune.index.lexical import LEXICAL_DIR, LexicalIndex, LexicalInfo

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MANIFEST_FILE = "index.json"
VectorDType = Literal["float32", "float16", "int8"]
AnnMode = Literal["auto", "none", "hnsw"]
DTYPES: tuple[str, ...] = ("float32", "float16", "int8")
ANN_MODES: tuple[str, ...] = ("auto", "none", "hnsw")
# Below this many rows exact search takes a few ms per query and is exact: no graph needed.
ANN_AUTO_MIN_ROWS = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 64
HNSW_TARGET_RECALL = 0.98
RECALL_SAMPLE = 200
# When a filter leaves fewer rows than this, scanning them exactly beats walking a filtered graph.
EXACT_FILTER_MAX_ROWS = 20_000
COMPACT_DEAD_FRACTION = 0.25
_CHUNK_ROWS = 32_768
# Folders other stages keep inside an index folder (recsys/: the co-occurrence statistics and fusion
# weights a recommender needs); every save carries them over, so `index add` does not drop them.
ATTACHED_DIRS: tuple[str, ...] = ("recsys",)


class AnnInfo(BaseModel):
    kind: Literal["hnsw"] = "hnsw"
    library: str = "faiss"
    m: int = HNSW_M
    ef_construction: int = HNSW_EF_CONSTRUCTION
    ef_search: int = HNSW_EF_SEARCH
    recall_at_10: float | None = None
    recall_sample: int = 0
    # "queries": the corpus's own queries (a DATA_DIR's queries.jsonl), encoded like real searches;
    # "stored rows": stored vectors as queries with the row itself left out of both rankings (optimistic).
    recall_queries: Literal["queries", "stored rows"] = "stored rows"
    build_seconds: float | None = None


class IndexManifest(BaseModel):
    """``index.json``: what the vectors are, how they were made, and how to search them."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    schema_version: int = SCHEMA_VERSION
    model: str
    backend: str = "torch"
    dim: int
    dtype: VectorDType = "float32"
    metric: Literal["ip"] = "ip"
    rows: int
    live: int
    kind: str = "retrieval"
    source: str | None = None
    data_dir: str | None = None
    ann: AnnInfo | None = None
    #: BM25 over the live rows; null in indexes written before embedtune kept one (they serve dense only).
    lexical: LexicalInfo | None = None
    agreement: dict[str, Any] | None = None
    created_at: str
    updated_at: str


@dataclass
class SearchHit:
    """One result: the document id, its score (cosine), and what a page needs to show it."""

    id: str
    score: float
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str | None:
        url = self.metadata.get("url")
        return url if isinstance(url, str) else None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": self.score, "title": self.title, "text": self.text,
                "url": self.url, "metadata": self.metadata}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _quantize(vectors: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray | None]:
    vectors = np.asarray(vectors, dtype=np.float32)
    if dtype == "float32":
        return vectors, None
    if dtype == "float16":
        return vectors.astype(np.float16), None
    # Symmetric per-dimension int8: unit vectors spread unevenly over dimensions, so one global
    # scale would waste most of the 256 levels on the few wide dimensions.
    scale = np.maximum(np.abs(vectors).max(axis=0), 1e-6).astype(np.float32) / 127.0
    return np.clip(np.rint(vectors / scale), -127, 127).astype(np.int8), scale


def _filter_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


class VectorIndex:
    """Rows of (vector, document) with tombstones; see the module docstring."""

    def __init__(self, manifest: IndexManifest, vectors: np.ndarray, scale: np.ndarray | None,
                 ids: list[str], titles: list[str], metadata: list[dict[str, Any]], texts: _TextStore,
                 deleted: np.ndarray, ann: Any = None, path: Path | None = None, lexical: LexicalIndex | None = None):
        self.manifest = manifest
        self.vectors = vectors
        self.scale = scale
        self.ids = ids
        self.titles = titles
        self.metadata = metadata
        self.texts = texts
        self.deleted = deleted
        self.ann = ann
        self.path = path
        self.lexical = lexical
        self._id_order: tuple[np.ndarray, np.ndarray] | None = None  # (rows in doc id order, each row's place in it)
        self.id_to_row = {doc_id: row for row, doc_id in enumerate(ids) if not deleted[row]}
        self._postings: dict[str, dict[str, np.ndarray]] = {}
        self.recall_queries: np.ndarray | None = None  # query vectors that measure the graph's recall
        self.attachments: dict[str, Callable[[Path], None]] = {}  # ATTACHED_DIRS name -> writer of a new one

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_documents(cls, docs: list[Document], vectors: np.ndarray, model: str, backend: str = "torch",
                       dtype: str = "float32", ann: str = "auto", kind: str = "retrieval",
                       source: str | None = None, data_dir: str | None = None,
                       agreement: dict[str, Any] | None = None,
                       recall_queries: np.ndarray | None = None,
                       expansions: Mapping[str, Sequence[str]] | None = None) -> VectorIndex:
        """Build an index in memory from documents and their (unit-length) vectors, row for row.

        ``recall_queries`` (query vectors from the same encoder) measure the HNSW graph's recall@10
        the way searches will use it; without them, stored rows stand in for queries. ``expansions``
        (``{document id: queries}``): what the lexical part indexes with each document besides its text."""
        if dtype not in DTYPES:
            raise EmbedtuneError(f"unknown --dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
        if ann not in ANN_MODES:
            raise EmbedtuneError(f"unknown --ann {ann!r}: choose one of {', '.join(ANN_MODES)}")
        if len(docs) != len(vectors):
            raise ValueError(f"{len(docs)} documents but {len(vectors)} vectors")
        if not docs:
            raise EmbedtuneError("cannot build an index from an empty corpus")
        seen: set[str] = set()
        for doc in docs:
            if doc.id in seen:
                raise EmbedtuneError(f"duplicate document id {doc.id!r}")
            seen.add(doc.id)
        stored, scale = _quantize(vectors, dtype)
        now = _now()
        manifest = IndexManifest(
            model=model, backend=backend, dim=int(vectors.shape[1]), dtype=dtype, rows=len(docs), live=len(docs),
            kind=kind, source=source, data_dir=data_dir, agreement=agreement, created_at=now, updated_at=now,
        )
        index = cls(manifest, stored, scale, [d.id for d in docs], [d.title for d in docs],
                    [dict(d.metadata) for d in docs], _TextStore.from_texts([d.text for d in docs]),
                    np.zeros(len(docs), dtype=bool), lexical=LexicalIndex.from_documents(docs, expansions))
        if recall_queries is not None and len(recall_queries):
            index.recall_queries = np.ascontiguousarray(recall_queries[:RECALL_SAMPLE], dtype=np.float32)
        if ann == "hnsw" or (ann == "auto" and len(docs) >= ANN_AUTO_MIN_ROWS):
            index.build_ann()
        return index

    # ---- ANN ----------------------------------------------------------------------------------
    def build_ann(self, m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION,
                  target_recall: float = HNSW_TARGET_RECALL) -> AnnInfo:
        """Build the HNSW graph over all rows and tune ``ef_search`` until recall@10 vs exact reaches
        ``target_recall`` (see :meth:`measure_ann_recall`)."""
        import faiss

        start = time.perf_counter()
        graph = faiss.IndexHNSWFlat(self.dim, m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = ef_construction
        for lo in range(0, self.rows, _CHUNK_ROWS):
            graph.add(self._dense(slice(lo, min(lo + _CHUNK_ROWS, self.rows))))
        self.ann = graph
        info = AnnInfo(m=m, ef_construction=ef_construction, build_seconds=round(time.perf_counter() - start, 2))
        self.manifest.ann = info
        recall = self.measure_ann_recall()
        while recall is not None and recall < target_recall and info.ef_search < 1024:
            info.ef_search *= 2
            recall = self.measure_ann_recall()
        return info

    def measure_ann_recall(self, k: int = 10, sample: int = RECALL_SAMPLE, seed: int = 0) -> float | None:
        """recall@k of the graph against exact search over the live rows.

        Queries are :attr:`recall_queries` when the index has them (real queries of the corpus). Otherwise a
        sample of stored vectors stands in, each with its own row left out of both rankings -- a stored
        vector finds itself trivially, which made an earlier version report 1.0 where real queries got 0.96.
        """
        if self.ann is None or self.manifest.ann is None:
            return None
        live = np.flatnonzero(~self.deleted)
        if len(live) == 0:
            return None
        if self.recall_queries is not None:
            queries, own_rows, kind = self.recall_queries, None, "queries"
        else:
            rng = np.random.default_rng(seed)
            own_rows = np.sort(rng.choice(live, size=min(sample, len(live)), replace=False))
            queries, kind = self._dense(own_rows), "stored rows"
        kk = min(k, len(live) - (own_rows is not None))
        if kk <= 0:
            return None
        extra = 0 if own_rows is None else 1
        exact = self._exact_rows(queries, kk + extra, ~self.deleted)
        approx = self._ann_rows(queries, kk + extra, ~self.deleted if self.deleted.any() else None)
        hits = []
        for qi, ((e, _), (a, _)) in enumerate(zip(exact, approx, strict=True)):
            if own_rows is not None:
                e, a = e[e != own_rows[qi]][:kk], a[a != own_rows[qi]][:kk]
            hits.append(len(set(e.tolist()) & set(a.tolist())) / kk)
        recall = float(np.mean(hits))
        self.manifest.ann.recall_at_10 = round(recall, 4)
        self.manifest.ann.recall_sample = len(queries)
        self.manifest.ann.recall_queries = kind
        return recall

    # ---- properties ---------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.manifest.dim

    @property
    def rows(self) -> int:
        return len(self.ids)

    def __len__(self) -> int:
        return int(self.rows - self.deleted.sum())

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self.id_to_row

    def _dense(self, rows: slice | np.ndarray) -> np.ndarray:
        block = np.asarray(self.vectors[rows], dtype=np.float32)
        if self.scale is not None:
            block = block * self.scale
        return np.ascontiguousarray(block)

    def _full_text(self, row: int) -> str:
        return Document(id=self.ids[row], title=self.titles[row], text=self.texts.get(row)).full_text

    def document(self, doc_id: str) -> Document:
        row = self.id_to_row.get(doc_id)
        if row is None:
            raise KeyError(doc_id)
        return Document(id=doc_id, title=self.titles[row], text=self.texts.get(row), metadata=self.metadata[row])

    # ---- search -------------------------------------------------------------------------------
    def filter_mask(self, filters: Mapping[str, Any] | None) -> np.ndarray:
        """Rows that are alive and match every filter: ``{field: value}`` or ``{field: [v1, v2]}``
        (any of); a document whose field is a list matches when any element matches."""
        mask = ~self.deleted
        for fld, wanted in (filters or {}).items():
            postings = self._postings_for(fld)
            values = wanted if isinstance(wanted, list) else [wanted]
            keep = np.zeros(self.rows, dtype=bool)
            for value in values:
                rows = postings.get(_filter_key(value))
                if rows is not None:
                    keep[rows] = True
            mask &= keep
        return mask

    def _postings_for(self, fld: str) -> dict[str, np.ndarray]:
        if fld not in self._postings:
            lists: dict[str, list[int]] = {}
            for row, meta in enumerate(self.metadata):
                value = self.ids[row] if fld == "id" else self.titles[row] if fld == "title" else meta.get(fld)
                for v in value if isinstance(value, list) else [value]:
                    if v is not None:
                        lists.setdefault(_filter_key(v), []).append(row)
            self._postings[fld] = {key: np.asarray(rows, dtype=np.int64) for key, rows in lists.items()}
        return self._postings[fld]

    def search(self, queries: np.ndarray, k: int = 10, filters: Mapping[str, Any] | None = None,
               exact: bool = False) -> list[list[SearchHit]]:
        """Top-``k`` live documents for each query vector (rows of ``queries``), best first."""
        return [self.hits(rows, scores) for rows, scores in self.dense_rows(queries, k, filters, exact)]

    def dense_rows(self, queries: np.ndarray, k: int = 10, filters: Mapping[str, Any] | None = None,
                   exact: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`search` as (rows, cosines) per query, before any text is read."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise EmbedtuneError(f"query vectors have {queries.shape[1]} dimensions, the index has {self.dim}")
        mask = self.filter_mask(filters) if filters else None
        allowed = int(mask.sum()) if mask is not None else len(self)
        k = min(k, allowed)
        if k <= 0:
            return [(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)) for _ in range(len(queries))]
        use_ann = self.ann is not None and not exact and (mask is None or allowed > EXACT_FILTER_MAX_ROWS)
        if use_ann:
            if mask is None and self.deleted.any():
                mask = ~self.deleted
            return self._ann_rows(queries, k, mask)
        return self._exact_rows(queries, k, mask if mask is not None else ~self.deleted)

    def search_lexical(self, queries: list[str], k: int = 10,
                       filters: Mapping[str, Any] | None = None) -> list[list[SearchHit]]:
        """Top-``k`` live documents by BM25 for each query text, best first (the ``bm25`` ranking of evaluation)."""
        return [self.hits(rows, scores) for rows, scores in self.lexical_rows(queries, k, filters)]

    def lexical_rows(self, queries: list[str], k: int = 10,
                     filters: Mapping[str, Any] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`search_lexical` as (rows, BM25 scores) per query. Documents that share a score are ordered
        by id, so when fewer than ``k`` match, the rest are the first non-matching ones by id (score 0)."""
        from embedtune import bm25

        if self.lexical is None:
            raise EmbedtuneError("this index has no lexical part (it was built before embedtune kept one): "
                                 "rebuild it with `embedtune index build`, or search it dense")
        self.lexical.ensure_built(~self.deleted)
        live = self.lexical.live
        every_row = len(live) == self.rows and not filters  # the usual case: scores are already per row
        mask = self.filter_mask(filters) if filters else ~self.deleted
        k = min(k, int(mask.sum()))
        out = []
        for tokens in bm25.tokenize(queries):
            if every_row:
                scores = self.lexical.scores(tokens)
            else:
                scores = np.full(self.rows, -np.inf, dtype=np.float32)
                scores[live] = self.lexical.scores(tokens)
                scores[~mask] = -np.inf
            rows = self._top_rows(scores, k)
            out.append((rows, scores[rows]))
        return out

    def id_order(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows sorted by document id, each row's position in that order): how ties are settled."""
        if self._id_order is None:
            by_id = np.asarray(sorted(range(self.rows), key=self.ids.__getitem__), dtype=np.int64)
            rank = np.empty(self.rows, dtype=np.int64)
            rank[by_id] = np.arange(self.rows)
            self._id_order = (by_id, rank)
        return self._id_order

    def _top_rows(self, scores: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Positions of the ``k`` best finite ``scores``, ordered by (-score, document id); ``rows`` maps a
        position to its row when ``scores`` covers only some rows. Ties at the cut-off go to the lowest ids,
        as in evaluation (:func:`embedtune.eval.systems.top_k_from_scores`), not to whichever came first."""
        by_id, rank = self.id_order()
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        threshold = np.partition(scores, len(scores) - k)[len(scores) - k]
        above = np.flatnonzero(scores > threshold)
        row_rank = rank if rows is None else rank[rows]
        above = above[np.lexsort((row_rank[above], -scores[above]))]
        need = k - len(above)
        at_threshold = scores == threshold
        if rows is None and np.count_nonzero(at_threshold) > need:
            # walk the rows in id order: cheap even when most of the corpus ties (BM25's zeros)
            tied = by_id[at_threshold[by_id]][:need]
        else:
            tied = np.flatnonzero(at_threshold)
            tied = tied[np.argsort(row_rank[tied], kind="stable")][:need]
        return np.concatenate([above, tied])

    def top_by_scores(self, scores: np.ndarray, k: int, exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        """The ``k`` best live documents by ``scores`` — one per row, from a ranker other than the vectors
        (a recommender's co-occurrence or popularity) — ``exclude`` left out, ordered by (-score, document id)
        as every ranking in embedtune (:func:`embedtune.data.runs.top_k_from_scores`), without re-sorting ids."""
        scores = np.array(scores, dtype=np.float64)
        if scores.shape != (self.rows,):
            raise ValueError(f"{scores.shape} scores for an index of {self.rows} rows")
        scores[self.deleted] = -np.inf
        banned = [self.id_to_row[doc_id] for doc_id in exclude if doc_id in self.id_to_row]
        scores[banned] = -np.inf
        return [(self.ids[row], float(scores[row])) for row in self._top_rows(scores, k)]

    def hits(self, rows: np.ndarray, scores: np.ndarray) -> list[SearchHit]:
        """Search hits (with title, text and metadata) for ranked rows and their scores."""
        return [self._hit(int(row), float(score)) for row, score in zip(rows, scores, strict=True)]

    def _hit(self, row: int, score: float) -> SearchHit:
        return SearchHit(id=self.ids[row], score=float(score), title=self.titles[row], text=self.texts.get(row),
                         metadata=self.metadata[row])

    def _exact_rows(self, queries: np.ndarray, k: int, mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        if self.scale is not None:
            # (q * s) · v_int8 == q · (s * v_int8): fold the scale into the query, not into 100k rows.
            queries = queries * self.scale
        n_alive = int(mask.sum())
        if n_alive < self.rows and n_alive <= EXACT_FILTER_MAX_ROWS:
            rows = np.flatnonzero(mask)
            scores = queries @ np.asarray(self.vectors[rows], dtype=np.float32).T
        else:
            rows = None
            scores = np.empty((len(queries), self.rows), dtype=np.float32)
            for lo in range(0, self.rows, _CHUNK_ROWS):
                hi = min(lo + _CHUNK_ROWS, self.rows)
                scores[:, lo:hi] = queries @ np.asarray(self.vectors[lo:hi], dtype=np.float32).T
            if n_alive < self.rows:
                scores[:, ~mask] = -np.inf
        out = []
        for qi in range(len(queries)):
            best = self._top_rows(scores[qi], k, rows)
            out.append((best if rows is None else rows[best], scores[qi, best]))
        return out

    def _ann_rows(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
        import faiss

        assert self.manifest.ann is not None
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.manifest.ann.ef_search, k)
        bitmap = None
        if allowed is not None:
            bitmap = np.packbits(allowed, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(self.rows, faiss.swig_ptr(bitmap))
        scores, labels = self.ann.search(queries, k, params=params)
        out = []
        for qi in range(len(queries)):
            keep = labels[qi] >= 0
            out.append((labels[qi][keep].astype(np.int64), scores[qi][keep]))
        del bitmap
        return out

    # ---- updates ------------------------------------------------------------------------------
    def add(self, docs: list[Document], vectors: np.ndarray) -> tuple[int, int]:
        """Insert documents; an id already present is updated (old row becomes a tombstone).
        Returns ``(added, updated)``."""
        check_batch(docs, vectors, self.dim, "the index")
        updated = self.delete([d.id for d in docs if d.id in self.id_to_row])
        if self.scale is not None:
            stored = np.clip(np.rint(np.asarray(vectors, np.float32) / self.scale), -127, 127).astype(np.int8)
        else:
            stored = np.asarray(vectors, dtype=self.vectors.dtype)
        first = self.rows
        self.vectors = np.concatenate([np.asarray(self.vectors), stored]) if len(docs) else self.vectors
        self.ids.extend(d.id for d in docs)
        self.titles.extend(d.title for d in docs)
        self.metadata.extend(dict(d.metadata) for d in docs)
        self.texts.extend([d.text for d in docs])
        self.deleted = np.concatenate([self.deleted, np.zeros(len(docs), dtype=bool)])
        if self.lexical is not None:
            self.lexical.extend_documents(docs)
        self._id_order = None
        for offset, doc in enumerate(docs):
            self.id_to_row[doc.id] = first + offset
        if self.ann is not None and len(docs):
            self.ann.add(self._dense(slice(first, self.rows)))
        self._postings.clear()
        self._touch()
        return len(docs) - updated, updated

    def delete(self, doc_ids: Iterable[str]) -> int:
        """Mark documents deleted; unknown ids are ignored. Returns how many were deleted."""
        n = 0
        for doc_id in doc_ids:
            row = self.id_to_row.pop(doc_id, None)
            if row is not None:
                self.deleted[row] = True
                n += 1
        if n:
            if self.lexical is not None:
                self.lexical.invalidate()  # document frequencies and the mean length changed
            self._touch()
        return n

    def compact(self) -> None:
        """Drop tombstoned rows (and rebuild the graph if there is one). No re-encoding."""
        keep = np.flatnonzero(~self.deleted)
        if len(keep) == self.rows:
            return
        if len(keep) == 0:
            raise EmbedtuneError("every document is deleted: an index needs at least one")
        self.vectors = np.ascontiguousarray(np.asarray(self.vectors)[keep])
        self.ids = [self.ids[i] for i in keep]
        self.titles = [self.titles[i] for i in keep]
        self.metadata = [self.metadata[i] for i in keep]
        self.texts = _TextStore.from_texts([self.texts.get(int(i)) for i in keep])
        self.deleted = np.zeros(len(keep), dtype=bool)
        if self.lexical is not None:
            self.lexical.take(keep)
        self._id_order = None
        self.id_to_row = {doc_id: row for row, doc_id in enumerate(self.ids)}
        self._postings.clear()
        if self.ann is not None:
            info = self.manifest.ann
            self.build_ann(m=info.m, ef_construction=info.ef_construction) if info else self.build_ann()
        self._touch()

    def _touch(self) -> None:
        self.manifest.rows = self.rows
        self.manifest.live = len(self)
        self.manifest.updated_at = _now()

    # ---- persistence --------------------------------------------------------------------------
    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the index folder atomically: it replaces ``path`` whole, or ``path`` is untouched.

        ``path`` may be missing, empty or an index; anything else only with ``overwrite``."""
        import faiss

        path = check_output_dir(path, overwrite=overwrite, producer="index")
        if self.deleted.any() and self.deleted.mean() >= COMPACT_DEAD_FRACTION:
            self.compact()
        if self.lexical is None:  # an index from before the lexical part: it gets one now
            self.lexical = LexicalIndex.from_texts([self._full_text(row) for row in range(self.rows)])
        self.lexical.ensure_built(~self.deleted)
        self.manifest.lexical = self.lexical.info()
        self._touch()
        with atomic_dir(path) as tmp:
            np.save(tmp / "vectors.npy", np.asarray(self.vectors))
            if self.scale is not None:
                np.save(tmp / "scale.npy", self.scale)
            np.save(tmp / "deleted.npy", self.deleted)
            self.texts.save(tmp / "docs.jsonl", tmp / "docs.offsets.npy", self.ids)
            with (tmp / "meta.jsonl").open("w", encoding="utf-8") as fh:
                for doc_id, title, meta in zip(self.ids, self.titles, self.metadata, strict=True):
                    fh.write(json.dumps({"id": doc_id, "title": title, "metadata": meta}, ensure_ascii=False) + "\n")
            if self.ann is not None:
                faiss.write_index(self.ann, str(tmp / "hnsw.faiss"))
            if self.recall_queries is not None:
                np.save(tmp / "recall_queries.npy", self.recall_queries)
            (tmp / LEXICAL_DIR).mkdir()
            self.lexical.save(tmp / LEXICAL_DIR)
            for name in ATTACHED_DIRS:
                if name in self.attachments:
                    self.attachments[name](tmp / name)
                elif self.path is not None and (self.path / name).is_dir():
                    shutil.copytree(self.path / name, tmp / name)
            (tmp / MANIFEST_FILE).write_text(self.manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | Path, mmap_vectors: bool = True) -> VectorIndex:
        """Open an index folder; vectors and texts are memory-mapped, ids and metadata read in."""
        path = Path(path)
        manifest = read_index_manifest(path)
        try:
            vectors = np.load(path / "vectors.npy", mmap_mode="r" if mmap_vectors else None)
            scale = np.load(path / "scale.npy") if (path / "scale.npy").is_file() else None
            deleted = np.array(np.load(path / "deleted.npy"), dtype=bool)
            ids, titles, metadata = [], [], []
            with (path / "meta.jsonl").open(encoding="utf-8") as fh:
                for line in fh:
                    row = json.loads(line)
                    ids.append(row["id"])
                    titles.append(row["title"])
                    metadata.append(row["metadata"])
            if not (len(ids) == len(vectors) == len(deleted) == manifest.rows):
                raise DataError(path, f"index files disagree on the row count ({len(ids)} ids, {len(vectors)} vectors, manifest {manifest.rows}); rebuild the index")
            ann = None
            if manifest.ann is not None:
                import faiss

                ann = faiss.read_index(str(path / "hnsw.faiss"))
                if ann.ntotal != manifest.rows:
                    raise DataError(path / "hnsw.faiss", f"graph holds {ann.ntotal} vectors, the index {manifest.rows}; rebuild the index")
            texts = _TextStore.open(path / "docs.jsonl", path / "docs.offsets.npy")
            lexical = None
            if manifest.lexical is not None:
                try:
                    lexical = LexicalIndex.load(path / LEXICAL_DIR, ~deleted)
                except ValueError as exc:
                    raise DataError(path / LEXICAL_DIR, f"{exc}; rebuild the index") from None
            index = cls(manifest, vectors, scale, ids, titles, metadata, texts, deleted, ann=ann, path=path,
                        lexical=lexical)
            if (path / "recall_queries.npy").is_file():
                index.recall_queries = np.load(path / "recall_queries.npy")
            return index
        except EmbedtuneError:
            raise
        except FileNotFoundError as exc:
            raise DataError(path, f"{Path(exc.filename or '?').name} is missing: the index is incomplete; rebuild it with `embedtune index build`") from None
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:  # truncated or damaged files
            raise DataError(path, f"damaged index ({type(exc).__name__}: {exc}); rebuild it with `embedtune index build`") from None


class _TextStore:
    """Document texts: a memory-mapped ``docs.jsonl`` read by byte offsets, plus rows added since."""

    def __init__(self, mapped: mmap.mmap | None, offsets: np.ndarray | None, extra: list[str]):
        self._mapped = mapped
        self._offsets = offsets
        self._extra = extra
        self._base = 0 if offsets is None else len(offsets) - 1

    @classmethod
    def from_texts(cls, texts: list[str]) -> _TextStore:
        return cls(None, None, list(texts))

    @classmethod
    def open(cls, docs_path: Path, offsets_path: Path) -> _TextStore:
        offsets = np.load(offsets_path)
        if docs_path.stat().st_size == 0:
            return cls(None, offsets, [])
        # The mapping survives the file being replaced by a hot reload or a save (same inode).
        with docs_path.open("rb") as fh:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        return cls(mapped, offsets, [])

    def __len__(self) -> int:
        return self._base + len(self._extra)

    def get(self, row: int) -> str:
        if row >= self._base:
            return self._extra[row - self._base]
        assert self._mapped is not None and self._offsets is not None
        raw = self._mapped[int(self._offsets[row]) : int(self._offsets[row + 1])]
        return json.loads(raw)["text"]

    def extend(self, texts: list[str]) -> None:
        self._extra.extend(texts)

    def save(self, docs_path: Path, offsets_path: Path, ids: list[str]) -> None:
        offsets = np.zeros(len(self) + 1, dtype=np.int64)
        with docs_path.open("wb") as fh:
            for row in range(len(self)):
                line = (json.dumps({"id": ids[row], "text": self.get(row)}, ensure_ascii=False) + "\n").encode("utf-8")
                fh.write(line)
                offsets[row + 1] = offsets[row] + len(line)
        np.save(offsets_path, offsets)


def check_batch(docs: list[Document], vectors: np.ndarray, dim: int, holder: str,
                error: type[EmbedtuneError] = EmbedtuneError) -> None:
    """Refuse a batch to add to a vector store (this index or a database table, ``holder``) before any
    write: one vector per document, no id twice, ``dim`` dimensions. Raises ``error``."""
    if len(docs) != len(vectors):
        raise ValueError(f"{len(docs)} documents but {len(vectors)} vectors")
    if len({d.id for d in docs}) != len(docs):
        raise error("the documents to add repeat an id")
    if len(docs) and vectors.shape[1] != dim:
        raise error(f"vectors have {vectors.shape[1]} dimensions, {holder} has {dim}")


def read_index_manifest(index_path: str | Path) -> IndexManifest:
    """The manifest (``index.json``) of the index folder at ``index_path``, validated."""
    path = Path(index_path)
    recover_dir(path)
    manifest_path = path / MANIFEST_FILE
    manifest = read_json_model(
        manifest_path, IndexManifest, what="index manifest",
        missing=f"{path} is not an embedtune index (no {MANIFEST_FILE}); build one with `embedtune index build`",
    )
    if manifest.schema_version > SCHEMA_VERSION:
        raise DataError(manifest_path, f"index schema {manifest.schema_version} is newer than this embedtune supports ({SCHEMA_VERSION})")
    return manifest
