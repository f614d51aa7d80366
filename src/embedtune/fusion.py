"""Fuse the rankings of several systems into one, with weights chosen on a dev split only.

Hybrid search (dense ⊕ BM25) and hybrid recommendation (text tower ⊕ co-occurrence ⊕ transitions ⊕ popularity ⊕ attributes)
are the same operation: each part ranks its top ``depth`` candidates per query (per user), the
scores are normalised per query, and a weighted sum orders the union. The normalisation, the
weighted sum, reciprocal rank fusion and the weight search are ranx's (``ranx.fuse``,
``ranx.optimize_fusion``; Bassani 2022); this module adds the record that says what was chosen,
on which split and how well it did, and the rules that keep a test split out of that choice.

API (generic over N named parts; a run is ``{query_id: [(doc_id, score), ...]}`` best first, the
shape every :class:`~embedtune.eval.systems.RankingSystem` returns)::

    from embedtune.fusion import FusionSpec, choose_fusion, fuse_runs

    # 1. choose on DEV: every part's dev run and the dev qrels ({query_id: {doc_id: grade}})
    spec = choose_fusion({"model": dev_dense, "bm25": dev_bm25}, dev_qrels, split="dev", data="data/site")
    spec.save("runs/site/fusion.json")
    # 2. apply anywhere (test split, a served query) to runs of the same parts
    spec = FusionSpec.load("runs/site/fusion.json")
    fused = fuse_runs(spec, {"model": test_dense, "bm25": test_bm25}, k=100)

- ``method="wsum"``: per-query ``norm`` (``"zmuv"``: z-score, ``"min-max"``) of each part's scores,
  then ``Σ weight_part · normalised score``. A document missing from a part's top ``depth`` counts 0
  there after normalisation (ranx's convention: the part's minimum for min-max, its mean for zmuv).
- ``method="rrf"``: reciprocal rank fusion, ``Σ 1 / (rrf_k + rank_part)`` (Cormack et al. 2009);
  ranks follow each run's order, so ties are settled by document id as everywhere in embedtune.
- ``rule``: ``"tuned"`` takes the best dev configuration; ``"default"`` takes ``default`` as is;
  ``"shrunk"`` tunes the weights with the default's method and norm and moves them halfway (``shrink``)
  toward the default's — for dev splits that may not look like real queries (generated ones).
- Per-user normalisation for recommendation is the same per-query normalisation: a user is a query.
- The weight grid is ranx's (step 0.1, weights summing to 1): with three parts it keeps the 62 of 66
  combinations whose float sum is exactly 1.0, with four 256 of 286. Five parts (the recommendation hybrid)
  would be 860 of 1,001, each a fusion and an evaluation of every dev user, so above four parts the same grid
  is searched coarse to fine (:func:`_coarse_to_fine`: ranx's 0.2 grid, then one-step neighbours of the best
  until none is better; ~150–180 configurations, the full grid's choice on 4 of 4 synthetic five-part cases,
  a local optimum 0.006 below it on a ragged 20-query one). Configurations tied on dev go to the one nearest
  the default weights. The first call in a process pays numba's start-up (seconds; compiled code is cached).
- The fused ranking is sorted by (-score, doc id) and cut at ``k``; serving a query through
  :func:`fuse_runs` with the same parts' top ``spec.depth`` gives the ranking evaluation scored.
- ``cold`` (recommendation): a part named ``cold`` made from another part's run — the text tower's top ``depth``
  restricted to cold items (at most ``max_events`` training events; :class:`ColdPart`) — so that the weights can
  lift the new items the tower ranks well. ``keep`` in :func:`choose_fusion` constrains the choice: the best
  weighting among those whose mean metric over a slice of queries (the cold targets) reaches a floor (the text
  tower's own there).
- ``slot`` (recommendation): after the fusion, a place (``rank``) is kept for the cold item the text tower ranks
  best once the user's vector is centred on the users' mean (:class:`ColdSlot`, :func:`reserve_slot`); its place
  and threshold are chosen on dev, after the weights.

``fusion.json`` (``FusionSpec``, schema version 1)::

    {"schema_version": 1, "method": "wsum", "norm": "zmuv", "weights": {"model": 0.6, "bm25": 0.4},
     "rrf_k": null, "depth": 100, "metric": "ndcg@10",
     "dev_metric": {"hybrid": 0.81, "model": 0.77, "bm25": 0.74}, "split": "dev", "data": "data/site",
     "n_queries": 200, "rule": "tuned", "default": false, "note": "...",
     "cold": null,   # recommendation: {"source": "model", "max_events": 5, "floor": 0.19, ...} and a "cold" weight
     "expansion": null,  # or {"source": "training queries", "queries": 728, "documents": 512, "dev_plain": 0.78}
     "slot": null}  # recommendation: {"source": "model", "centre": 0.5, "mean": [ū, 384 floats], "max_events": 5,
                    #   "rank": 5, "tau": 1.0, "queries": 14, "reached": 0.22, "without": 0.0, "dev_without": 0.246}

``expansion`` (retrieval data with real training queries): the ``bm25`` part indexes each document together with
the training queries that judge it (:mod:`embedtune.data.expansion`), chosen on dev against plain BM25
(``dev_plain``: the plain hybrid's dev metric); an index built for the model indexes the same texts.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from embedtune.base_model import BUNDLED_ALIASES, bundled_model_dir
from embedtune.data.runs import Run
from embedtune.errors import DataError, EmbedtuneError
from embedtune.fileio import write_json_atomic

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: Candidates taken from each part per query: the evaluation's run depth, and what serving must fetch.
DEFAULT_DEPTH = 100
#: Weight grid step for ``ranx.optimize_fusion``.
WEIGHT_STEP = 0.1
NORMS = ("zmuv", "min-max")
#: Fused scores are compared at this many decimals, so float noise never decides an order.
TIE_DECIMALS = 9

Method = Literal["wsum", "rrf"]
Norm = Literal["zmuv", "min-max"]
Rule = Literal["tuned", "default", "shrunk"]


#: The name of the part a :class:`ColdPart` makes.
COLD_PART = "cold"


class ColdPart(BaseModel):
    """How the ``cold`` part is made (recommendation): the ``source`` part's top ``depth`` for the query,
    restricted to cold items (at most ``max_events`` training events), so its normalised scores rank the new
    items against each other. A weighted sum of per-user scores otherwise ranks cold items below the warm ones
    co-occurrence backs, and the text tower's knowledge of new items is lost (docs/recsys.md, "Cold items")."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field("model", description="the part whose ranking of cold items makes the cold part")
    max_events: int = Field(5, ge=0, description="an item with at most this many training events is cold")
    share: float | None = Field(None, gt=0, le=1, description="the share of the source's dev metric over cold "
                                "targets the choice had to keep")
    floor: float | None = Field(None, description="the dev metric over cold targets the choice had to reach "
                                "(share × the source's own there); null when unconstrained")
    queries: int = Field(0, ge=0, description="dev queries whose target is cold")
    reached: float | None = Field(None, description="the chosen fusion's dev metric over those queries")


class ColdSlot(BaseModel):
    """A reserved place in the fused list for one cold item (recommendation; :func:`reserve_slot`).

    The ``source`` part (the text tower) ranks the items again with the user vector centred, ``u − centre·ū``
    (ū: the mean of the source's user vectors over the dev users). That removes ``ū·v``, the part of an item's
    score every user shares — what a logQ-corrected tower learns of popularity — and leaves what is particular to
    this user. The best cold item of that ranking (at most ``max_events`` training events) is put at ``rank`` of
    the fused list when it is not already at or above it, and its centred z-score (over the centred top ``depth``)
    reaches ``tau`` (``None``: always). The fused parts know nothing of new items; the slot keeps the one the
    tower likes best for this user in view (docs/recsys.md, "Cold items"; docs/benchmarks.md, "Stop 33")."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field("model", description="the part (a dense model) whose centred ranking fills the slot")
    centre: float = Field(0.5, ge=0, le=1, description="λ in u − λ·ū")
    mean: list[float] = Field(description="ū: the source's mean user vector over the dev users")
    max_events: int = Field(5, ge=0, description="an item with at most this many training events is cold")
    rank: int = Field(10, ge=1, description="the 1-based place the cold item is put at")
    tau: float | None = Field(None, description="the centred z-score the item must reach (null: always)")
    queries: int = Field(0, ge=0, description="dev queries whose target is cold")
    reached: float | None = Field(None, description="the hybrid's dev metric over those queries, with the slot")
    without: float | None = Field(None, description="the same without the slot")
    dev_without: float | None = Field(None, description="the hybrid's dev metric over all dev queries without it")

    def describe(self) -> str:
        when = "" if self.tau is None else f" when its centred z-score is at least {self.tau:g}"
        return (f"rank {self.rank} kept for {self.source}'s best item with at most {self.max_events} training events, "
                f"user vectors centred (λ {self.centre:g}){when}")


#: When a recommendation hybrid keeps a :class:`ColdSlot`: ``auto`` (where dev shows it raises the cold targets at
#: little cost), ``on`` (always, its setting chosen on dev), ``off`` (never).
ColdSlotMode = Literal["auto", "on", "off"]
COLD_SLOT_MODES: tuple[str, ...] = ("auto", "on", "off")
#: The default of ``embedtune eval`` / ``train`` (docs/benchmarks.md, "Stop 33").
DEFAULT_COLD_SLOT: ColdSlotMode = "auto"


def check_cold_slot(mode: str) -> ColdSlotMode:
    """A cold-slot mode, or one clear error naming the choices."""
    if mode not in COLD_SLOT_MODES:
        raise EmbedtuneError(f"cold slot {mode!r}: choose one of {', '.join(COLD_SLOT_MODES)}")
    return mode  # type: ignore[return-value]


class LexicalExpansion(BaseModel):
    """The ``bm25`` part of a fusion indexes each document with its real training queries
    (:func:`embedtune.data.expansion.training_expansions`); chosen on dev over plain BM25."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["training queries"] = "training queries"
    queries: int = Field(0, ge=0, description="training queries appended (one per judged document)")
    documents: int = Field(0, ge=0, description="documents that have at least one")
    dev_plain: float | None = Field(None, description="the hybrid's dev metric with plain BM25 instead")

    @classmethod
    def of(cls, expansions: Mapping[str, Sequence[str]], dev_plain: float | None = None) -> LexicalExpansion:
        """The record of ``expansions`` (``{document id: its training queries}``)."""
        return cls(queries=sum(len(q) for q in expansions.values()), documents=len(expansions), dev_plain=dev_plain)

    def describe(self) -> str:
        """``over each document plus …``: what the bm25 part indexes besides the documents (after "BM25")."""
        return (f"over each document plus the training queries that judge it ({self.queries} judgments, "
                f"{self.documents} documents)")


class FusionSpec(BaseModel):
    """How to fuse named parts, and the evidence it was chosen on (saved as ``fusion.json``)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    method: Method = "wsum"
    norm: Norm | None = Field("zmuv", description="per-query score normalisation (wsum only)")
    weights: dict[str, float] = Field(description="weight per part, in fusion order; RRF weighs parts equally")
    rrf_k: int | None = Field(None, ge=1, description="RRF's rank offset (rrf only)")
    depth: int = Field(DEFAULT_DEPTH, ge=1, description="candidates fused from each part per query")
    metric: str = "ndcg@10"
    dev_metric: dict[str, float] = Field(default_factory=dict, description="'hybrid' and each part on `split`")
    split: str | None = Field(None, description="the split the choice was made on (never a test split)")
    data: str | None = None
    n_queries: int = 0
    rule: Rule = "tuned"
    default: bool = Field(False, description="true when these are the documented defaults, not chosen on data")
    note: str = ""
    cold: ColdPart | None = Field(None, description="how the 'cold' part is made (recommendation)")
    expansion: LexicalExpansion | None = Field(None, description="the bm25 part indexes documents with their "
                                               "training queries (chosen on dev); null: plain BM25")
    slot: ColdSlot | None = Field(None, description="a place kept for the source's best cold item "
                                  "(recommendation; chosen on dev); null: none")

    @model_validator(mode="after")
    def _check(self) -> FusionSpec:
        if len(self.weights) < 2:
            raise ValueError("fusion needs at least two parts")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("weights must be non-negative and not all zero")
        if self.method == "wsum" and self.norm is None:
            raise ValueError("wsum needs a norm (zmuv or min-max)")
        if self.method == "rrf" and self.rrf_k is None:
            raise ValueError("rrf needs rrf_k")
        if (self.cold is not None) != (COLD_PART in self.weights):
            raise ValueError(f"a {COLD_PART!r} part needs a 'cold' record saying how it is made, and the reverse")
        if self.cold is not None and self.cold.source not in self.weights:
            raise ValueError(f"the cold part's source {self.cold.source!r} is not a part of the fusion")
        if self.slot is not None and self.slot.source not in self.weights:
            raise ValueError(f"the cold slot's source {self.slot.source!r} is not a part of the fusion")
        return self

    @property
    def parts(self) -> list[str]:
        return list(self.weights)

    def describe(self) -> str:
        """A few words for tables: ``wsum zmuv model 0.6 / bm25 0.4`` or ``rrf k=60``."""
        if self.method == "rrf":
            return f"rrf k={self.rrf_k}"
        slot = f" + cold slot at rank {self.slot.rank}" if self.slot is not None else ""
        return f"wsum {self.norm} " + " / ".join(f"{p} {w:g}" for p, w in self.weights.items()) + slot

    def renamed(self, names: Mapping[str, str]) -> FusionSpec:
        """The same fusion over parts renamed (``{"model": "base"}`` applies a model's weights to its base)."""
        cold, slot = self.cold, self.slot
        return self.model_copy(update={
            "weights": {names.get(p, p): w for p, w in self.weights.items()},
            "dev_metric": {names.get(p, p): v for p, v in self.dev_metric.items()},
            "cold": cold.model_copy(update={"source": names.get(cold.source, cold.source)}) if cold else None,
            "slot": slot.model_copy(update={"source": names.get(slot.source, slot.source)}) if slot else None,
        })

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        write_json_atomic(path, self.model_dump(mode="json"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> FusionSpec:
        import json

        path = Path(path)
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise DataError(path, "no such fusion.json") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(path, f"not valid JSON: {exc}") from None
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'fusion'}: {e['msg']}" for e in exc.errors())
            raise DataError(path, f"not an embedtune fusion.json ({problems})") from None


#: The documented default, used when there are no dev queries to choose on (or only generated ones).
#: Chosen on the dev-visible benchmarks with real queries (docs/benchmarks.md, "Hybrid"): on SciFact's
#: dev claims and the help centre's dev questions, z-score weights 0.7 / 0.3 stay within 3.4 points of
#: each set's best weight (0.5 loses 7.6 points on the help centre, 0.8 loses 5.1 on SciFact).
DEFAULT_FUSION = FusionSpec(
    method="wsum", norm="zmuv", weights={"model": 0.7, "bm25": 0.3}, default=True, rule="default",
    note="documented default: no dev queries to choose on",
)


#: The documented default for recommendation data (parts named as ``embedtune eval`` and serving name them):
#: the text tower and co-occurrence, z-scored per user, equal weights; transitions, popularity and attributes 0. Equal weights fixed in
#: advance were +17% over co-occurrence alone on a held-out Amazon-style log (issue 14); used when there is no
#: dev split to choose on.
DEFAULT_RECSYS_FUSION = FusionSpec(
    method="wsum", norm="zmuv", weights={"model": 0.5, "cooccurrence": 0.5, "transitions": 0.0, "popularity": 0.0,
                                          "attributes": 0.0},
    default=True, rule="default", note="documented default: no dev users to choose on",
)


#: A query added to every run handed to ranx, which cannot hold a run without any document; dropped after.
_PAD = "\x00embedtune-pad"
#: A document no run holds: judged relevant for the queries a slice's evaluation leaves out, they score 0.
_ABSENT = "\x00embedtune-absent"


def _ranx_run(run: Run, query_ids: list[str], depth: int, by_rank: bool):
    from ranx import Run as RanxRun

    data: dict[str, dict[str, float]] = {_PAD: {_PAD: 1.0}}
    for qid in query_ids:
        ranked = run.get(qid, [])[:depth]
        # RRF reads ranks from the order of a run; ranx re-sorts by score with an unstable sort, so ranks
        # are handed over as strictly decreasing scores in our order (ties settled by doc id).
        data[qid] = {doc: float(len(ranked) - i) if by_rank else float(score)
                     for i, (doc, score) in enumerate(ranked)}
    return RanxRun(data)


def _sorted(fused: Mapping[str, Mapping[str, float]], query_ids: list[str], k: int | None) -> Run:
    out: Run = {}
    for qid in query_ids:
        # Scores equal but for float noise (two parts' normalised scores summed in another order) are ties,
        # settled by doc id like every other ranking in embedtune.
        items = sorted(fused.get(qid, {}).items(), key=lambda item: (-round(item[1], TIE_DECIMALS), item[0]))
        out[qid] = [(doc, float(score)) for doc, score in (items if k is None else items[:k])]
    return out


def _check_parts(spec_parts: list[str], runs: Mapping[str, Run]) -> None:
    missing = [p for p in spec_parts if p not in runs]
    if missing:
        raise EmbedtuneError(f"fusion needs a run for {', '.join(missing)} (have: {', '.join(runs) or 'none'})")


def _query_ids(runs: Mapping[str, Run]) -> list[str]:
    return list(dict.fromkeys(q for run in runs.values() for q in run))


def fuse_runs(spec: FusionSpec, runs: Mapping[str, Run], k: int | None = None,
              cold: Container[str] | None = None, centred: Run | None = None) -> Run:
    """The fused ranking of every query found in ``runs`` (one run per part of ``spec``), best first.

    With a :class:`ColdPart` in ``spec``, ``cold`` holds the cold items and the ``cold`` part is made from the
    source part's run (:func:`cold_run`) unless ``runs`` has it. With a :class:`ColdSlot`, ``cold`` holds the
    cold items and ``centred`` the slot source's centred run (each query's top ``spec.depth``, history
    excluded), and the slot is filled after the fusion (:func:`reserve_slot`)."""
    if ((spec.cold is not None and COLD_PART not in runs) or spec.slot is not None) and cold is None:
        raise EmbedtuneError("this fusion has a cold part or a cold slot: the cold items must be given")
    if spec.cold is not None and COLD_PART not in runs:
        _check_parts([spec.cold.source], runs)
        runs = {**runs, COLD_PART: cold_run(runs[spec.cold.source], cold, spec.depth)}
    if spec.slot is None:
        return _fuse(spec, runs, k)
    if centred is None:
        raise EmbedtuneError("this fusion keeps a slot for a cold item: the source's centred run must be given")
    slot = spec.slot
    fused = _fuse(spec, runs, None if k is None else max(k, slot.rank))
    return reserve_slot(fused, centred, cold, slot.rank, slot.tau, spec.depth, k)


def reserve_slot(fused: Run, centred: Run, cold: Container[str], rank: int, tau: float | None, depth: int,
                 k: int | None = None) -> Run:
    """``fused`` with, per query, ``centred``'s best cold item put at ``rank`` (1-based) when it is not already
    at or above it and its z-score over ``centred``'s top ``depth`` is at least ``tau`` (``None``: any). The
    items from ``rank`` down move one place; the moved item takes a score between its new neighbours', so the
    list stays sorted by score. Cut at ``k``."""
    import numpy as np

    out: Run = {}
    for qid, ranked in fused.items():
        ranked = list(ranked)
        top = centred.get(qid, [])[:depth]
        best = next((i for i, (doc, _) in enumerate(top) if doc in cold), None)
        if best is not None and tau is not None:
            scores = np.array([score for _, score in top], dtype=np.float64)
            std = scores.std()
            if std <= 0 or (scores[best] - scores.mean()) / std < tau:
                best = None
        if best is not None:
            doc = top[best][0]
            at = next((i for i, (d, _) in enumerate(ranked) if d == doc), None)
            if at is None or at >= rank:
                if at is not None:
                    del ranked[at]
                place = min(rank - 1, len(ranked))
                above = ranked[place - 1][1] if place > 0 else None
                below = ranked[place][1] if place < len(ranked) else None
                score = ((above + below) / 2 if above is not None and below is not None
                         else above - 1.0 if above is not None else below + 1.0 if below is not None else 0.0)
                ranked.insert(place, (doc, float(score)))
        out[qid] = ranked if k is None else ranked[:k]
    return out


def cold_run(run: Run, cold: Container[str], depth: int) -> Run:
    """Each query's top ``depth`` of ``run`` restricted to the ``cold`` items (the ``cold`` part's run)."""
    return {q: [(doc, score) for doc, score in ranked[:depth] if doc in cold] for q, ranked in run.items()}


def _fuse(spec: FusionSpec, runs: Mapping[str, Run], k: int | None) -> Run:
    from ranx import fuse

    _check_parts(spec.parts, runs)
    query_ids = _query_ids({p: runs[p] for p in spec.parts})
    if not query_ids:
        return {}
    by_rank = spec.method == "rrf"
    ranx_runs = [_ranx_run(runs[p], query_ids, spec.depth, by_rank) for p in spec.parts]
    with warnings.catch_warnings(), _numba_threads(1 if len(query_ids) < SERIAL_BELOW else None):
        warnings.simplefilter("ignore")  # numba's uint64→int64 type-safety notes inside ranx
        if by_rank:
            fused = fuse(ranx_runs, norm=None, method="rrf", params={"k": spec.rrf_k})
        else:
            fused = fuse(ranx_runs, norm=spec.norm, method="wsum", params={"weights": list(spec.weights.values())})
    return _sorted(_read_fused(fused, query_ids, k), query_ids, k)


# ---- speed for a served query (embedtune.index.hybrid fuses one request's two top-100 lists) ----
#: Below this many queries ranx's parallel loops cost more to launch than they save (3.0 vs 1.6 ms for one).
SERIAL_BELOW = 64


@contextlib.contextmanager
def _numba_threads(n: int | None):
    """Run ranx's numba code on ``n`` threads (the setting is the calling thread's; restored after)."""
    if n is None:
        yield
        return
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(min(n, before))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _read_fused(fused, query_ids: list[str], k: int | None) -> dict[str, dict[str, float]]:
    """``fused.to_dict()`` restricted to what :func:`_sorted` can keep: ranx sorts a fused run by score, so
    reading stops once the rounded score falls below the ``k``-th one (reading an item back from numba
    costs ~7 µs: 1.5 ms for a query's 200 candidates, 0.2 ms for its top 10)."""
    if k is None or not fused.sorted:
        return fused.to_dict()
    out: dict[str, dict[str, float]] = {}
    for qid in query_ids:
        kept: dict[str, float] = {}
        cut: float | None = None
        for doc, score in fused.run[qid].items() if qid in fused.run else ():
            if cut is not None and round(score, TIE_DECIMALS) < cut:
                break
            kept[doc] = score
            if cut is None and len(kept) == k:
                cut = round(score, TIE_DECIMALS)
        out[qid] = kept
    return out


def mean_metric(run: Run, qrels: Mapping[str, Mapping[str, int]], metric: str) -> float:
    """Mean ``metric`` over the judged queries, with embedtune's own definitions (those of the eval tables)."""
    import numpy as np

    from embedtune.metrics import MetricSpec, per_query_metrics

    k = int(metric.split("@", 1)[1])
    spec = MetricSpec(accuracy_at=(k,), precision_recall_at=(k,), ndcg_at=(k,), mrr_at=(k,), map_at=(k,))
    relevant = {q: {d for d, g in judged.items() if g > 0} for q, judged in qrels.items()}
    relevant = {q: rel for q, rel in relevant.items() if rel}
    if not relevant:
        return 0.0
    scores = per_query_metrics({q: [d for d, _ in run.get(q, [])] for q in relevant}, relevant, spec)
    return float(np.mean([m[metric] for m in scores.values()]))


@dataclass(frozen=True)
class Keep:
    """A floor on a slice of the dev queries: a weighting is eligible only when its mean metric over
    ``query_ids`` is at least ``floor`` (recommendation: the cold targets, and the text tower's own there)."""

    query_ids: frozenset[str]
    floor: float


def _optimize(runs, qrels, parts, query_ids, depth, method, norm, metric, nearest=None, keep: Keep | None = None):
    """ranx's grid search: returns ``{config: dev score}`` (weights tuples for wsum, k for rrf).

    Up to :data:`FULL_GRID_MAX_PARTS` parts a weighted sum searches ranx's whole 0.1 grid; above, the grid is
    searched coarse to fine (:func:`_coarse_to_fine`). ``nearest`` orders configurations tied on dev (smaller
    first), as :func:`choose_fusion` does. With ``keep`` (weighted sum only) only the weightings that reach its
    floor are returned — or, when none does, those that come nearest it.
    """
    from ranx import Qrels, optimize_fusion

    by_rank = method == "rrf"
    ranx_runs = [_ranx_run(runs[p], query_ids, depth, by_rank) for p in parts]
    # The pad query is in every run, so it is judged too: the same constant for every configuration.
    ranx_qrels = Qrels({_PAD: {_PAD: 1}, **{q: {d: int(g) for d, g in qrels[q].items()} for q in query_ids}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if by_rank:  # choose_fusion refuses a floor with RRF among its methods
            _, report = optimize_fusion(ranx_qrels, ranx_runs, norm=None, method="rrf", metric=metric,
                                        show_progress=False, return_optimization_report=True)
        elif len(parts) > FULL_GRID_MAX_PARTS or keep is not None:
            return _coarse_to_fine(ranx_qrels, ranx_runs, norm, metric, nearest or (lambda _: 0.0), keep,
                                   coarse_step=COARSE_STEP if len(parts) > FULL_GRID_MAX_PARTS else WEIGHT_STEP)
        else:
            _, report = optimize_fusion(ranx_qrels, ranx_runs, norm=norm, method="wsum", metric=metric,
                                        step=WEIGHT_STEP, show_progress=False, return_optimization_report=True)
    return dict(zip(report.configs, report.results, strict=True))


#: Up to this many parts a weighted sum's weights are searched on ranx's whole 0.1 grid (286 weightings
#: for four parts); five parts would be 1,001, each a fusion and an evaluation of every dev user.
FULL_GRID_MAX_PARTS = 4
#: The coarse grid of a search over more parts (126 weightings for five).
COARSE_STEP = 0.2


def _coarse_to_fine(qrels, ranx_runs, norm, metric, nearest, keep: Keep | None = None,
                    coarse_step: float = COARSE_STEP) -> dict[tuple[float, ...], float]:
    """Weights of many parts, searched coarse to fine: ranx's grid at ``coarse_step``, then on ranx's
    :data:`WEIGHT_STEP` grid the neighbours of the best weighting found so far (each weight within one step
    of it) until the best is a local optimum of that grid. The configurations scored are a subset of ranx's
    full grid, each scored exactly as ``ranx.optimize_fusion`` scores it (one ``ranx.normalize`` per part,
    then ``ranx.fuse`` and ``ranx.evaluate`` per weighting); about a fifth of the full grid's cost for five
    parts. Returns ``{weights: dev score}`` for every configuration scored; with ``keep``, "best" means best
    among the weightings that reach its floor, and only those are returned (none does: those nearest it)."""
    from ranx import evaluate, fuse, normalize, optimize_fusion
    from ranx.fusion_optimization.optimize_weights import get_possible_weights, get_trial_configs

    normalised = [normalize(run, norm) for run in ranx_runs]  # once, for both stages
    scores: dict[tuple[float, ...], float] = {}
    kept: dict[tuple[float, ...], float] = {}  # with keep: each weighting's mean over keep's queries
    if keep is not None:
        # keep's queries judged as they are, every other query (the pad too) on a document no run holds: it
        # scores 0, so the mean over all of them, rescaled, is the mean over keep's queries (one ranx evaluation
        # per weighting; reading per-query scores back from numba costs ~20x more)
        from ranx import Qrels

        judged = qrels.to_dict()
        keep_qrels = Qrels({q: rel if q in keep.query_ids else {_ABSENT: 1} for q, rel in judged.items()})
        rescale = len(judged) / max(len(keep.query_ids & judged.keys()), 1)

    def score(weights: tuple[float, ...]) -> None:
        fused = fuse(normalised, norm=None, method="wsum", params={"weights": list(weights)})
        scores[weights] = float(evaluate(qrels, fused, metric, save_results_in_run=False))
        if keep is not None:
            kept[weights] = float(evaluate(keep_qrels, fused, metric, save_results_in_run=False)) * rescale

    if keep is None:
        _, report = optimize_fusion(qrels, normalised, norm=None, method="wsum", metric=metric, step=coarse_step,
                                    show_progress=False, return_optimization_report=True)
        scores.update({_parse_config(c): float(r) for c, r in zip(report.configs, report.results, strict=True)})
    else:
        for weights in get_trial_configs(get_possible_weights(coarse_step), len(ranx_runs)):
            score(tuple(weights))
    grid = get_trial_configs(get_possible_weights(WEIGHT_STEP), len(ranx_runs))

    def eligible() -> list[tuple[float, ...]]:
        if keep is None:
            return list(scores)
        ok = [c for c in scores if kept[c] >= keep.floor - 1e-9]
        if ok:
            return ok
        nearest_floor = max(kept.values())
        return [c for c in scores if kept[c] >= nearest_floor - 1e-9]

    def best() -> tuple[float, ...]:
        candidates = eligible()
        top = max(scores[c] for c in candidates)
        return min((c for c in candidates if scores[c] >= top - 1e-9), key=nearest)

    centre = None
    while (found := best()) != centre:
        centre = found
        for weights in grid:
            if weights in scores or max(abs(w - c) for w, c in zip(weights, centre, strict=True)) > WEIGHT_STEP + 1e-9:
                continue
            score(weights)
    return scores if keep is None else {c: scores[c] for c in eligible()}


def _parse_config(config) -> tuple[float, ...]:
    if isinstance(config, str):
        config = config.strip("()[] ").replace("np.float64", "").replace("(", "").replace(")", "")
        return tuple(float(x) for x in config.split(",") if x.strip())
    return tuple(float(x) for x in (config if isinstance(config, tuple | list) else (config,)))


def choose_fusion(
    runs: Mapping[str, Run],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    split: str,
    data: str | None = None,
    methods: tuple[str, ...] = ("wsum",),
    norms: tuple[str, ...] = NORMS,
    metric: str = "ndcg@10",
    depth: int = DEFAULT_DEPTH,
    rule: Rule = "tuned",
    default: FusionSpec | None = None,
    shrink: float = 0.5,
    keep: Keep | None = None,
    cold: ColdPart | None = None,
) -> FusionSpec:
    """Choose the fusion of ``runs`` (one per part, in fusion order) on ``split``'s ``qrels`` only.

    ``split`` must not be a test split: choosing there would leak the test into what it judges. Among
    configurations scoring within 1e-9 of the best, the one nearest the default weights wins (stable
    across reruns). Without judged queries the default is returned, marked ``default: true``. With ``keep``
    (weighted sums) the best among the weightings whose mean over its queries reaches its floor. ``cold``
    says how the ``cold`` part among ``runs`` was made (:class:`ColdPart`).
    """
    if split == "test":
        raise EmbedtuneError("fusion weights are chosen on a dev split, never on test")
    parts = list(runs)
    if len(parts) < 2:
        raise EmbedtuneError("fusion needs at least two runs")
    if keep is not None and methods != ("wsum",):
        raise EmbedtuneError("a floor on a slice of the queries constrains weighted sums only: methods=('wsum',)")
    default = default or DEFAULT_FUSION
    if list(default.weights) != parts:  # the default names generic parts: map them onto these, in order
        default = default.model_copy(update={"weights": dict(zip(parts, default.weights.values(), strict=False))
                                              if len(default.weights) == len(parts)
                                              else {p: 1.0 / len(parts) for p in parts}})
    query_ids = [q for q in qrels if any(g > 0 for g in qrels[q].values())]
    base = {"metric": metric, "depth": depth, "split": split, "data": data, "n_queries": len(query_ids), "cold": cold}
    if not query_ids or rule == "default":
        spec = default.model_copy(update={**base, "rule": "default", "default": True, "note": "documented default"})
        if not query_ids:
            return spec.model_copy(update={"note": f"documented default: split {split!r} has no judged queries"})
        return _with_dev_metrics(spec, runs, qrels, query_ids)

    nearest = dict(default.weights)

    def distance(weights: tuple[float, ...]) -> float:
        return sum(abs(w - nearest[p]) for p, w in zip(parts, weights, strict=True))

    candidates: list[tuple[float, float, FusionSpec]] = []
    search_methods = (default.method,) if rule == "shrunk" else methods
    for method in search_methods:
        for norm in ((default.norm,) if rule == "shrunk" else norms) if method == "wsum" else (None,):
            scores = _optimize(runs, qrels, parts, query_ids, depth, method, norm, metric, nearest=distance, keep=keep)
            for config, score in scores.items():
                values = _parse_config(config)
                if method == "rrf":
                    spec = FusionSpec(method="rrf", norm=None, rrf_k=int(values[0]),
                                      weights={p: 1.0 for p in parts}, **base)
                    tie = 0.0
                else:
                    spec = FusionSpec(method="wsum", norm=norm, weights=dict(zip(parts, values, strict=True)), **base)
                    tie = distance(values)
                candidates.append((float(score), tie, spec))
    best_score = max(c[0] for c in candidates)
    chosen = min((c for c in candidates if c[0] >= best_score - 1e-9), key=lambda c: c[1])[2]
    if rule == "shrunk":
        weights = {p: round((1 - shrink) * chosen.weights[p] + shrink * nearest[p], 4) for p in parts}
        chosen = chosen.model_copy(update={
            "weights": weights, "rule": "shrunk",
            "note": f"tuned on {split} ({chosen.describe()}), moved {shrink:g} of the way to the default weights",
        })
    else:
        how = " (coarse to fine on ranx's 0.1 grid)" if len(parts) > FULL_GRID_MAX_PARTS and "wsum" in methods else ""
        if keep is not None:
            how += f" that reach {keep.floor:.4f} on {len(keep.query_ids)} given queries"
        chosen = chosen.model_copy(update={"rule": "tuned",
                                           "note": f"best of {len(candidates)} configurations{how} on {split}"})
    return _with_dev_metrics(chosen, runs, qrels, query_ids)


def _with_dev_metrics(spec: FusionSpec, runs, qrels, query_ids, cold: Container[str] | None = None) -> FusionSpec:
    judged = {q: qrels[q] for q in query_ids}
    dev = {"hybrid": round(mean_metric(fuse_runs(spec, runs, cold=cold), judged, spec.metric), 6)}
    dev.update({p: round(mean_metric(runs[p], judged, spec.metric), 6) for p in spec.parts})
    return spec.model_copy(update={"dev_metric": dev})


#: The fusion record's file name: written by ``embedtune eval`` / ``train`` into the model folder, copied into
#: an index's ``recsys/`` by ``index build``.
FUSION_FILE = "fusion.json"


def model_folder(model: str | Path) -> Path | None:
    """The user's model folder, where ``fusion.json`` belongs; ``None`` for the bundled base model or a
    folder that does not exist."""
    if str(model) in BUNDLED_ALIASES:
        return None
    folder = Path(model)
    if not folder.is_dir():
        return None
    with contextlib.suppress(EmbedtuneError, OSError):  # the bundled model by its path: a package folder, not the user's
        if folder.resolve() == bundled_model_dir().resolve():
            return None
    return folder


@dataclass(frozen=True)
class ServedModes:
    """What a served model answers when a request names no mode, why, and the fusion its ``hybrid`` mode
    uses: the search modes of an index (:class:`embedtune.index.hybrid.ModeChoice`) and the
    recommendation modes (:class:`embedtune.recsys.recommend.RecommendModes`)."""

    default: str
    reason: str
    fusion: FusionSpec
    fusion_source: str  # the fusion.json path, or "documented default"
    modes: tuple[str, ...]  # the modes this model or index can answer

    def to_dict(self) -> dict[str, Any]:
        """The shape of ``/health``'s entries: default mode, why, modes, fusion and its source."""
        return {"default_mode": self.default, "why": self.reason, "modes": list(self.modes),
                "fusion": self.fusion.describe(), "fusion_source": self.fusion_source}
