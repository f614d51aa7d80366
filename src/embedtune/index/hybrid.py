"""Search modes over an index — ``dense``, ``lexical``, ``hybrid`` — and which one an index serves by default.

- ``dense``: cosine over the vectors (:meth:`VectorIndex.search`); scores are cosines.
- ``lexical``: BM25 over the index's lexical part (:meth:`VectorIndex.search_lexical`); scores are BM25.
  A PostgreSQL store (``serve --store``) answers with PostgreSQL full-text search instead
  (:meth:`~embedtune.store.postgres.PgVectorStore.search_lexical`): other scores, so its hybrid is fused
  the same way but is not the ranking evaluation scored, and it is not the default there (:func:`choose_mode`).
- ``hybrid``: the dense and the lexical top ``fusion.depth`` of a query, fused by
  :func:`embedtune.fusion.fuse_runs` with a :class:`~embedtune.fusion.FusionSpec`; scores
  are the fused ones. Evaluation fuses the same two top-``depth`` runs with the same function, so on
  an exact float32 index a served hybrid ranking is the one ``embedtune eval`` scored (an HNSW graph
  can miss a dense candidate, as it can in dense mode). Filters restrict both candidate lists first.

The fusion is the model folder's ``fusion.json`` (written by ``embedtune eval`` / ``train``: the
weights chosen on dev, with each part's dev metric), else the documented default
(:data:`~embedtune.fusion.DEFAULT_FUSION`). The default mode (:func:`choose_mode`) is
``hybrid`` when that ``fusion.json``'s dev result for the hybrid beat the dense part's, else
``dense``; :class:`ModeChoice` says why. A ``fusion.json`` whose ``bm25`` part was expanded with training
queries (``expansion``) is served by default only from an index whose lexical part indexes them (``index build``
from the DATA_DIR that holds them, :func:`embedtune.index.build.lexical_expansions`), and the reverse.

Example::

    index = VectorIndex.load("runs/index")
    choice = choose_mode(index)               # ModeChoice(default="hybrid", reason="...", fusion=...)
    hits = search(index, ["reset my password"], encoder.encode(["reset my password"]), k=5,
                  mode=choice.default, fusion=choice.fusion)[0]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from embedtune.errors import EmbedtuneError
from embedtune.fusion import DEFAULT_FUSION, FUSION_FILE, FusionSpec, ServedModes, fuse_runs, model_folder
from embedtune.index.store import SearchHit, VectorIndex

log = logging.getLogger(__name__)

SearchMode = Literal["dense", "lexical", "hybrid"]
MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")
#: The fusion record ``embedtune eval`` / ``train`` leave in a model folder.
#: The lexical part's name in a fusion spec (evaluation's ``bm25`` system).
LEXICAL_PART = "bm25"


@dataclass(frozen=True)
class ModeChoice(ServedModes):
    """What an index serves when a request names no mode (one of :data:`MODES`), why, and the fusion its
    hybrid mode uses."""

    @property
    def dense_part(self) -> str:
        return dense_part(self.fusion)


def dense_part(spec: FusionSpec) -> str:
    """The name of the dense part of a (dense, bm25) fusion."""
    return next(p for p in spec.parts if p != LEXICAL_PART)


def model_fusion_path(model: str) -> Path | None:
    """``fusion.json`` of the model folder an index names, if it has one (never for the bundled base model)."""
    folder = model_folder(model)
    if folder is None or not folder.is_absolute():
        return None
    path = folder / FUSION_FILE
    return path if path.is_file() else None


def _dev_line(spec: FusionSpec, dense: str) -> str:
    hybrid, alone = spec.dev_metric.get("hybrid"), spec.dev_metric.get(dense)
    where = f"split {spec.split!r}" + (f", {spec.n_queries} queries" if spec.n_queries else "")
    return f"on {where}, hybrid {spec.metric} {hybrid:.4f} vs dense {alone:.4f}"


def choose_mode(index: Any, override: str | None = None) -> ModeChoice:
    """The default search mode of ``index`` (a :class:`VectorIndex` or a store), and the fusion for ``hybrid``.

    ``override`` (``serve --mode``) sets the default outright, if the index can answer it. A
    ``fusion.json`` that is not a fusion of one dense part with ``bm25`` is left aside (dense default).
    """
    lexical = getattr(index, "lexical", None) is not None
    modes = MODES if lexical else ("dense",)
    path = model_fusion_path(index.manifest.model)
    spec = FusionSpec.load(path) if path is not None else None  # a broken file: DataError naming it
    usable = spec is not None and len(spec.parts) == 2 and LEXICAL_PART in spec.parts
    fusion, source = (spec, str(path)) if usable else (DEFAULT_FUSION, "documented default")

    evaluated_lexical = getattr(index.lexical, "same_as_evaluated", True) if lexical else True
    # The fusion's bm25 part was BM25 over documents plus their training queries, or plain BM25: the index's
    # lexical part must index the same texts for a served hybrid to be the evaluated one.
    index_expanded = bool(getattr(index.lexical, "expanded", False)) if lexical else False
    expansion_mismatch = usable and lexical and (spec.expansion is not None) != index_expanded

    def chosen(mode: str, reason: str) -> ModeChoice:
        if not evaluated_lexical:
            reason += (f"; lexical and hybrid search use {index.lexical.description}, whose scores differ from the "
                       f"BM25 that `embedtune eval` scored, so a hybrid ranking served here is not the evaluated one")
        return ModeChoice(default=mode, reason=reason, fusion=fusion, fusion_source=source, modes=modes)  # type: ignore[arg-type]

    if override is not None and override != "auto":
        if override not in modes:
            raise EmbedtuneError(f"--mode {override}: {no_lexical_reason(index)}")
        return chosen(override, "set by --mode")
    if spec is None:
        return chosen("dense", "the model folder has no fusion.json (run `embedtune eval` on data with a dev split "
                               "to choose one); hybrid is available on request with the documented default fusion"
                      if lexical else no_lexical_reason(index))
    if not usable:
        return chosen("dense", f"{path} fuses {', '.join(spec.parts)}, not one dense model with {LEXICAL_PART}")
    part = dense_part(spec)
    if spec.dev_metric.get("hybrid") is None or spec.dev_metric.get(part) is None:
        return chosen("dense", f"{path} records no dev result to compare ({spec.note or 'documented default'})")
    beat = spec.dev_metric["hybrid"] > spec.dev_metric[part]
    if beat and not lexical:
        return chosen("dense", f"{path}: hybrid beat dense ({_dev_line(spec, part)}), but {no_lexical_reason(index)}")
    verdict = "beat" if beat else "did not beat"
    if beat and not evaluated_lexical:
        return chosen("dense", f"{path}: hybrid with BM25 beat dense ({_dev_line(spec, part)}), but this index's "
                               "lexical side is not that BM25: dense by default, hybrid on request")
    if beat and expansion_mismatch:
        said = ("expanded BM25 with the training queries" if spec.expansion is not None else "used plain BM25")
        held = "indexes them" if index_expanded else "does not (build it from the DATA_DIR that holds them)"
        return chosen("dense", f"{path}: hybrid beat dense ({_dev_line(spec, part)}), but its fusion {said} and this "
                               f"index's lexical part {held}: dense by default, hybrid on request")
    return chosen("hybrid" if beat else "dense", f"{path}: hybrid {verdict} dense {_dev_line(spec, part)}")


def no_lexical_reason(index: Any) -> str:
    if getattr(index, "lexical", None) is not None:
        return "the index has a lexical part"
    if not isinstance(index, VectorIndex):
        return ("this store table has no full-text column (pushed by an older embedtune): it serves dense only; "
                "push the index again (`embedtune index push INDEX --to URL`) for lexical and hybrid search")
    return "the index has no lexical part (built before embedtune kept one): rebuild it with `embedtune index build`"


def search(index: Any, queries: Sequence[str], vectors: np.ndarray | None, k: int, mode: str,
           fusion: FusionSpec | None = None, filters: Mapping[str, Any] | None = None) -> list[list[SearchHit]]:
    """Top ``k`` per query in ``mode``; ``vectors`` are the queries' embeddings (unused, may be None, for lexical).

    ``index``: a :class:`VectorIndex`, or a store (:class:`~embedtune.store.postgres.StoreIndex`)."""
    if mode == "dense":
        return index.search(vectors, k=k, filters=filters)
    if mode == "lexical":
        return index.search_lexical(list(queries), k=k, filters=filters)
    if mode != "hybrid":
        raise EmbedtuneError(f"unknown search mode {mode!r}: choose one of {', '.join(MODES)}")
    if not isinstance(index, VectorIndex):
        return hybrid_search_hits(index, queries, vectors, k, fusion or DEFAULT_FUSION, filters)
    return hybrid_search(index, queries, vectors, k, fusion or DEFAULT_FUSION, filters)


def hybrid_search(index: VectorIndex, queries: Sequence[str], vectors: np.ndarray, k: int, fusion: FusionSpec,
                  filters: Mapping[str, Any] | None = None) -> list[list[SearchHit]]:
    """Fuse each query's dense and lexical top ``fusion.depth`` (one :func:`fuse_runs` call for all queries)."""
    dense = index.dense_rows(vectors, k=fusion.depth, filters=filters)
    lexical = index.lexical_rows(list(queries), k=fusion.depth, filters=filters)
    ids = index.ids

    def run(ranked: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, list[tuple[str, float]]]:
        return {str(q): [(ids[r], float(s)) for r, s in zip(rows.tolist(), scores.tolist(), strict=True)]
                for q, (rows, scores) in enumerate(ranked)}

    fused = _fuse(fusion, run(dense), run(lexical), k)
    out = []
    for q in range(len(queries)):
        ranked = fused.get(str(q), [])
        rows = np.array([index.id_to_row[doc_id] for doc_id, _ in ranked], dtype=np.int64)
        out.append(index.hits(rows, np.array([score for _, score in ranked], dtype=np.float64)))
    return out


def hybrid_search_hits(index: Any, queries: Sequence[str], vectors: np.ndarray, k: int, fusion: FusionSpec,
                       filters: Mapping[str, Any] | None = None) -> list[list[SearchHit]]:
    """:func:`hybrid_search` for an index that answers with hits (a store): the same fusion of each query's
    dense and lexical top ``fusion.depth``."""
    dense = index.search(vectors, k=fusion.depth, filters=filters)
    lexical = index.search_lexical(list(queries), k=fusion.depth, filters=filters)
    fused = _fuse(fusion, {str(q): [(h.id, h.score) for h in hits] for q, hits in enumerate(dense)},
                  {str(q): [(h.id, h.score) for h in hits] for q, hits in enumerate(lexical)}, k)
    out = []
    for q in range(len(queries)):
        found = {h.id: h for h in (*lexical[q], *dense[q])}
        out.append([replace(found[doc_id], score=score) for doc_id, score in fused.get(str(q), [])])
    return out


def _fuse(fusion: FusionSpec, dense: dict[str, list[tuple[str, float]]], lexical: dict[str, list[tuple[str, float]]],
          k: int) -> dict[str, list[tuple[str, float]]]:
    return fuse_runs(fusion, {dense_part(fusion): dense, LEXICAL_PART: lexical}, k=k)
