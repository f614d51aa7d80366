"""Hybrid systems of an evaluation: the model and the base model, each fused with the data's baselines.

On retrieval and site data the parts are a dense model and BM25; on recommendation data (a user is a
query) the text tower, ``cooccurrence`` and ``popularity`` (:attr:`~embedtune.data.kinds.DataKind.hybrid_with`).
``hybrid`` is the model under test ⊕ those baselines and ``base_hybrid`` the base model ⊕ the same ones
(no training): the line ``hybrid − base_hybrid`` is what the fine-tune adds once fusion is in place.
Both fuse the same runs the table scores (each part's top ``depth``, history already excluded on
recommendation data) with :func:`embedtune.fusion.fuse_runs`, so a served hybrid ranks as evaluated.

Where the fusion comes from (:func:`hybrid_fusions`), first that applies:

1. a :class:`~embedtune.fusion.FusionSpec` given by the caller (``embedtune eval --fusion FILE``);
2. the data folder's ``dev`` split, when it is not the split being evaluated: the weights are chosen
   there for each of ``hybrid`` and ``base_hybrid`` (the test split never influences them) — rule
   ``tuned`` on real dev queries (and on recommendation data's dev users: each user's second-to-last
   item, with the history before it), :data:`GENERATED_DEV_RULE` on generated ones (site data); on
   recommendation data with ``keep_cold`` a sixth part, ``cold`` (the model's ranking of cold items), and the
   weights the best among those that keep a share of the model's NDCG@10 on the dev users whose target is cold;
   on recommendation data without it and with ``cold_slot`` ``on`` or ``auto``, the weights chosen, then a place
   kept for the dense part's best cold item (:class:`~embedtune.fusion.ColdSlot`, its place and threshold chosen
   on the same dev users; ``auto`` keeps it only where it helps their cold targets);
3. the model folder's ``fusion.json`` (written when it was trained or evaluated), unless it was chosen
   on the split now evaluated, is itself a default, or fuses other parts;
4. the documented default (:data:`~embedtune.fusion.DEFAULT_FUSION` for BM25,
   :data:`~embedtune.fusion.DEFAULT_RECSYS_FUSION` for recommendation; ``default: true``).

On data with real training queries the ``bm25`` part is, in source 2, BM25 over each document plus its
training queries when the hybrid's dev metric is higher with it than with plain BM25 (each weighted as chosen
on dev; ``expansion`` in the spec), plain BM25 otherwise; a given or saved spec with ``expansion`` on data
without real training queries fuses plain BM25 and says so in its note.

With 1, 3 and 4, ``base_hybrid`` is fused with the same method and weights as ``hybrid``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from embedtune.data.kinds import data_kind
from embedtune.data.origin import GENERATED, split_query_origin
from embedtune.data.records import RetrievalSplit
from embedtune.errors import EmbedtuneError
from embedtune.eval.systems import BM25System, RankingSystem
from embedtune.fusion import (
    COLD_PART,
    DEFAULT_COLD_SLOT,
    DEFAULT_FUSION,
    DEFAULT_RECSYS_FUSION,
    FUSION_FILE,
    ColdPart,
    ColdSlot,
    ColdSlotMode,
    FusionSpec,
    Keep,
    LexicalExpansion,
    Rule,
    check_cold_slot,
    choose_fusion,
    cold_run,
    fuse_runs,
    mean_metric,
    model_folder,
    reserve_slot,
)

logger = logging.getLogger(__name__)

HYBRID, BASE_HYBRID = "hybrid", "base_hybrid"
#: How weights are chosen on a dev split of generated queries (site data); see docs/benchmarks.md, "Hybrid".
GENERATED_DEV_RULE: Rule = "default"
DEV_SPLIT = "dev"


def cold_items(data_dir: Path, item_ids: list[str], max_events: int | None = None) -> tuple[frozenset[str], int]:
    """The cold items of a recommendation DATA_DIR (:func:`embedtune.recsys.stats.cold_items`)."""
    from embedtune.recsys.stats import cold_items as count_cold

    return count_cold(data_dir, item_ids, max_events)


def check_keep_cold(share: float) -> None:
    """``keep_cold`` is a share of the model's dev score on cold targets: in (0, 1]."""
    if not 0 < share <= 1:
        raise EmbedtuneError(f"keep_cold is a share of the model's cold-target score: in (0, 1], not {share:g}")


def _choose_keeping_cold(runs: dict, qrels: dict, part: str, cold: tuple[frozenset[str], int], data_dir: Path,
                         depth: int, norms: tuple[str, ...], default: FusionSpec, share: float = 1.0) -> FusionSpec:
    """Recommendation: the weights of ``runs`` plus a ``cold`` part (``part``'s ranking of the cold items),
    chosen on dev as the best overall among the weightings whose NDCG@10 on the dev users with a cold target
    is at least ``share`` of ``part``'s own there — so the hybrid keeps what the text tower knows of new items."""
    check_keep_cold(share)
    items, max_events = cold
    runs = {**runs, COLD_PART: cold_run(runs[part], items, depth)}
    targets = [q for q in qrels if any(g > 0 and d in items for d, g in qrels[q].items())]
    judged = {q: qrels[q] for q in targets}
    floor = round(share * mean_metric(runs[part], judged, default.metric), 6) if targets else None
    record = ColdPart(source=part, max_events=max_events, share=share, floor=floor, queries=len(targets))
    default = default.model_copy(update={"weights": {**default.weights, COLD_PART: 0.0}, "cold": record})
    keep = Keep(frozenset(targets), floor) if floor is not None else None
    spec = choose_fusion(runs, qrels, split=DEV_SPLIT, data=str(data_dir), depth=depth, norms=norms, default=default,
                         keep=keep, cold=record)
    reached = round(mean_metric(fuse_runs(spec, runs), judged, spec.metric), 6) if targets else None
    return spec.model_copy(update={"cold": record.model_copy(update={"reached": reached})})


#: The cold slot's settings searched on dev, in order (ties go to the first): its place in the list, and the
#: centred z-score its item must reach (``None``: always). Stop 30/32's grid (docs/benchmarks.md, "Stop 33").
SLOT_RANKS = (10, 5)
SLOT_TAUS: tuple[float | None, ...] = (None, 1.0, 2.0)
#: λ of the slot's centred user vectors, ``u − λ·ū`` (stop 30: 0.5 kept shop 0's cold targets at no cost).
SLOT_CENTRE = 0.5
#: ``auto`` keeps the slot only when on dev it raises the cold targets' metric and costs at most this overall.
SLOT_TOLERANCE = 0.005


def _with_cold_slot(spec: FusionSpec, runs: dict, qrels: dict, part: str, system: RankingSystem, dev: RetrievalSplit,
                    cold: tuple[frozenset[str], int], depth: int, mode: ColdSlotMode = "on") -> FusionSpec:
    """Recommendation: ``spec`` (weights already chosen on dev) with a :class:`~embedtune.fusion.ColdSlot` whose
    place and threshold are the best of :data:`SLOT_RANKS` × :data:`SLOT_TAUS` on the dev users overall. The
    slot's source is ``part`` (``system``, a dense model) ranking the dev users with their vectors centred on
    their mean. No slot when the model is not a dense one or there are no cold items; with ``mode="auto"``, nor
    when on dev it does not raise the cold targets' metric or costs more than :data:`SLOT_TOLERANCE` overall (the
    note says which)."""
    import numpy as np

    from embedtune.dense import DenseSystem

    items, max_events = cold
    if not isinstance(system, DenseSystem) or not items:
        return spec
    mean = [round(float(x), 7) for x in system.query_embeddings(dev).mean(0)]  # as fusion.json keeps it
    centred = system.rank(dev, depth, shift=SLOT_CENTRE * np.asarray(mean))
    targets = [q for q in qrels if any(g > 0 and d in items for d, g in qrels[q].items())]
    judged = {q: qrels[q] for q in targets}
    plain = fuse_runs(spec, runs, k=depth, cold=items)  # the parts fused once; each setting only fills its slot
    best: tuple[float, FusionSpec, dict] | None = None  # dev metric, spec, its fused dev run
    for rank in SLOT_RANKS:
        for tau in SLOT_TAUS:
            slot = ColdSlot(source=part, centre=SLOT_CENTRE, mean=mean,
                            max_events=max_events, rank=rank, tau=tau, queries=len(targets))
            trial = spec.model_copy(update={"slot": slot})
            fused = reserve_slot(plain, centred, items, rank, tau, spec.depth, depth)  # = fuse_runs(trial, ...)
            score = mean_metric(fused, qrels, spec.metric)
            if best is None or score > best[0] + 1e-9:
                best = (score, trial, fused)
    assert best is not None
    chosen = best[1]
    slot = chosen.slot.model_copy(update={  # type: ignore[union-attr]
        "reached": round(mean_metric(best[2], judged, spec.metric), 6) if targets else None,
        "without": round(mean_metric(plain, judged, spec.metric), 6) if targets else None,
        "dev_without": spec.dev_metric.get("hybrid"),
    })
    if mode == "auto":
        why = ("no dev user's target is cold" if not targets
               else f"it does not raise the {len(targets)} cold targets ({slot.without:.4f} → {slot.reached:.4f})"
               if (slot.reached or 0.0) <= (slot.without or 0.0) + 1e-9
               else f"it costs {slot.dev_without - best[0]:.4f} overall (more than {SLOT_TOLERANCE:g})"
               if slot.dev_without is not None and best[0] < slot.dev_without - SLOT_TOLERANCE else None)
        if why is not None:
            return spec.model_copy(update={"note": f"{spec.note}; no cold slot: on {spec.split} {why}"})
    dev_metric = {**spec.dev_metric, "hybrid": round(best[0], 6)}
    note = (f"{spec.note}; cold slot: {slot.describe()}, best of {len(SLOT_RANKS) * len(SLOT_TAUS)} settings on "
            f"{spec.split}")
    return chosen.model_copy(update={"slot": slot, "dev_metric": dev_metric, "note": note})


def _choose_expansion(plain: dict[str, FusionSpec], expanded: BM25System, dense_runs: dict, dev: RetrievalSplit,
                      qrels: dict, wanted: dict[str, str], data_dir: Path, depth: int, norms: tuple[str, ...],
                      default: FusionSpec) -> dict[str, FusionSpec]:
    """The fusions with ``expanded`` as the ``bm25`` part when the hybrid's dev metric beats ``plain``'s (each
    hybrid's weights chosen on dev with it), else ``plain``; either way the note says what the other reached."""
    lexical = {"bm25": expanded.rank(dev, depth)}
    alt = {name: choose_fusion({part: dense_runs[part], **lexical}, qrels, split=DEV_SPLIT, data=str(data_dir),
                               depth=depth, norms=norms, default=default.renamed({"model": part}))
           for name, part in wanted.items()}
    with_it, without = alt[HYBRID].dev_metric["hybrid"], plain[HYBRID].dev_metric["hybrid"]
    record = LexicalExpansion.of(expanded.expansions, dev_plain=without)
    if with_it > without:
        note = f"; bm25 = BM25 {record.describe()}: dev hybrid {with_it:.4f} with it vs {without:.4f} with plain BM25"
        return {name: spec.model_copy(update={"expansion": record, "note": spec.note + note}) for name, spec in alt.items()}
    note = f"; plain BM25 kept: BM25 {record.describe()} reached {with_it:.4f} on dev, plain {without:.4f}"
    return {name: spec.model_copy(update={"note": spec.note + note}) for name, spec in plain.items()}


def _chosen_on(spec: FusionSpec, data_dir: Path, split: str) -> bool:
    if spec.split != split or spec.data is None:
        return False
    try:
        return Path(spec.data).resolve() == data_dir.resolve()
    except OSError:
        return False


def default_fusion(others: tuple[str, ...]) -> FusionSpec:
    """The documented default fusion of the model with ``others`` (``("bm25",)`` or the recommendation baselines)."""
    for spec in (DEFAULT_FUSION, DEFAULT_RECSYS_FUSION):
        if tuple(p for p in spec.parts if p != "model") == tuple(others):
            return spec
    return DEFAULT_FUSION.model_copy(update={"weights": {p: 1.0 for p in ("model", *others)}})


def _dense_part(spec: FusionSpec, others: tuple[str, ...]) -> str | None:
    """The one part of ``spec`` that is not a baseline in ``others`` (``None`` if the spec fuses other parts)."""
    dense = [p for p in spec.parts if p not in (*others, COLD_PART)]
    return dense[0] if len(dense) == 1 else None


def check_fusion(spec: FusionSpec, others: tuple[str, ...]) -> str:
    """The model part of a given fusion of the model with ``others``; an error naming both when it fuses other parts."""
    dense_part = _dense_part(spec, others)
    if dense_part is None:
        raise EmbedtuneError(f"the fusion fuses {', '.join(spec.parts)}: a hybrid here fuses one model with "
                             f"{', '.join(others)}")
    return dense_part


def hybrid_fusions(
    ret: RetrievalSplit,
    data_dir: str | Path,
    dense: Mapping[str, RankingSystem],
    others: Mapping[str, RankingSystem],
    depth: int,
    *,
    model_dir: Path | None = None,
    fusion: FusionSpec | None = None,
    keep_cold: float | None = None,
    expanded: BM25System | None = None,
    cold_slot: ColdSlotMode = DEFAULT_COLD_SLOT,
) -> dict[str, FusionSpec]:
    """The fusion of each hybrid: ``{"hybrid": spec over (model, *others), "base_hybrid": spec over (base, *others)}``.

    ``dense`` maps ``"model"`` (and ``"base"`` when there is a base model) to its ranking system and
    ``others`` the baselines fused with it, in fusion order (``{"bm25": ...}``, or
    ``{"cooccurrence": ..., "popularity": ...}``); they rank the dev split when the weights are chosen
    there (source 2 of the module docstring). ``keep_cold`` (recommendation data, a share in (0, 1]): the weights
    are chosen with a sixth part, ``cold``, among those that keep that share of each dense part's NDCG@10 on the
    dev users whose target is cold (:func:`_choose_keeping_cold`). ``expanded`` (retrieval data with real
    training queries: BM25 over documents plus their training queries) is chosen instead of plain BM25 when,
    on real dev queries, the hybrid with it scores higher (:func:`_choose_expansion`); the specs then say so
    (``expansion``). ``cold_slot`` (recommendation data, weights chosen on dev, no ``keep_cold``): ``on`` — each
    hybrid keeps a place for its dense part's best cold item, set on dev (:func:`_with_cold_slot`); ``auto`` — only
    where dev shows it helps the cold targets at little cost; ``off`` — none.
    """
    data_dir = Path(data_dir)
    names = tuple(others)
    parts = {HYBRID: "model", BASE_HYBRID: "base"}
    wanted = {name: part for name, part in parts.items() if part in dense}
    default = default_fusion(names)

    def same_for_all(spec: FusionSpec) -> dict[str, FusionSpec]:
        dense_part = check_fusion(spec, names)
        if spec.expansion is not None and expanded is None:  # given or saved: this data has no training queries
            spec = spec.model_copy(update={"expansion": None, "note": (
                f"{spec.note}; its bm25 part was expanded with training queries, and {data_dir} has no real ones: "
                "plain BM25 here")})
        out = {name: spec.renamed({dense_part: part}) for name, part in wanted.items()}
        for name, part in wanted.items():
            if spec.slot is not None and part != dense_part:  # ū is the mean of dense_part's user vectors
                out[name] = out[name].model_copy(update={"slot": None, "note": (
                    f"{spec.note}; without the cold slot: its centre was measured on {dense_part}'s user vectors")})
        return out

    if fusion is not None:
        return same_for_all(fusion)
    dev_path = data_dir / "qrels" / f"{DEV_SPLIT}.tsv"
    if ret.name != DEV_SPLIT and dev_path.is_file():
        from embedtune.data.beir import load_retrieval_split

        dev = load_retrieval_split(data_dir, DEV_SPLIT, corpus=ret.corpus)
        origin = split_query_origin(data_dir, DEV_SPLIT, dev.kind)
        rule: Rule = GENERATED_DEV_RULE if origin == GENERATED else "tuned"
        qrels = {q: dev.qrels[q] for q in dev.query_ids}
        logger.info("choosing the fusion weights on split %r (%d %s queries, rule %s)", DEV_SPLIT, len(qrels),
                    origin, rule)
        other_runs = {name: system.rank(dev, depth) for name, system in others.items()}
        out = {}
        kind = data_kind(dev.kind)
        slot = check_cold_slot(cold_slot) != "off" and kind.cold_part and keep_cold is None and rule == "tuned"
        cold = cold_items(data_dir, list(dev.corpus)) if (keep_cold is not None and rule == "tuned") or slot else None
        dense_runs = {part: dense[part].rank(dev, depth) for part in wanted.values()}
        for name, part in wanted.items():
            runs = {part: dense_runs[part], **other_runs}
            if cold is not None and keep_cold is not None:
                out[name] = _choose_keeping_cold(runs, qrels, part, cold, data_dir, depth, kind.fusion_norms,
                                                 default.renamed({"model": part}), keep_cold)
                continue
            out[name] = choose_fusion(runs, qrels, split=DEV_SPLIT, data=str(data_dir), depth=depth, rule=rule,
                                      norms=kind.fusion_norms, default=default.renamed({"model": part}))
            if slot and cold is not None:
                out[name] = _with_cold_slot(out[name], runs, qrels, part, dense[part], dev, cold, depth, cold_slot)
            if origin == GENERATED:
                out[name] = out[name].model_copy(update={
                    "note": f"{out[name].note}: dev holds generated queries, whose best weights do not carry over to "
                            f"real ones, so the {rule} rule applies"})
        if expanded is not None and rule == "tuned" and keep_cold is None and HYBRID in out:
            out = _choose_expansion(out, expanded, dense_runs, dev, qrels, wanted, data_dir, depth, kind.fusion_norms,
                                    default)
        return out
    saved = model_dir / FUSION_FILE if model_dir is not None else None
    if saved is not None and saved.is_file():
        spec = FusionSpec.load(saved)
        # A default recorded earlier is no choice: the current documented default stands in for it.
        if not spec.default and not _chosen_on(spec, data_dir, ret.name) and _dense_part(spec, names) is not None:
            return same_for_all(spec)
    reason = (f"the evaluated split is {DEV_SPLIT!r} itself, so no other split is left to choose on"
              if ret.name == DEV_SPLIT else f"{data_dir} has no {DEV_SPLIT!r} split to choose on")
    return same_for_all(default.model_copy(update={"note": f"documented default: {reason}"}))


#: A model whose share of a weighted-sum hybrid is at most this (0 on ranx's 0.1 grid) counts as left out.
MODEL_WEIGHT_FLOOR = 0.05


def _model_weight(spec: FusionSpec) -> tuple[float, float] | None:
    """The model's weight in a weighted-sum hybrid and its share of all weights (``None`` for RRF, which
    weighs every part equally)."""
    dense = [p for p in spec.parts if p in ("model", "base")]
    if spec.method != "wsum" or not dense:
        return None
    weight = spec.weights[dense[0]]
    return weight, weight / sum(spec.weights.values())


def hybrid_caveat(spec: FusionSpec, *, learned_nothing: bool, near_chance: bool) -> str | None:
    """What the hybrid's score must not hide about the model, or ``None``: a fitted model weight of ~0, a
    model that learned nothing (training loss at chance level) or ranks at chance level on this split."""
    weight = _model_weight(spec)
    others = " ⊕ ".join(p for p in spec.parts if p not in ("model", "base"))
    reasons = [reason for flag, reason in ((learned_nothing, "its training loss stayed at chance level"),
                                           (near_chance, "it ranks near chance level on this split")) if flag]
    if weight is not None and weight[1] <= MODEL_WEIGHT_FLOOR:
        source = "documented default" if spec.default else f"chosen on split {spec.split!r}"
        line = (f"the hybrid gives the model weight {weight[0]:g} ({source}): it is {others} alone, and the model "
                "adds nothing to it")
        return line + (f"; the model learned nothing ({', '.join(reasons)})" if reasons else "")
    if reasons:
        share = f"weight {weight[1]:.2g} of the hybrid" if weight is not None else "one of the fused parts"
        return (f"the model learned nothing ({', '.join(reasons)}): the hybrid's score comes from {others}, "
                f"not from the model ({share})")
    return None


def describe(spec: FusionSpec, parts: str) -> str:
    """The system description in eval tables: what is fused, how, and the evidence of the choice."""
    if spec.default:
        source = spec.note or "documented default"
    else:
        dev = ", ".join(f"{k} {v:.4f}" for k, v in spec.dev_metric.items())
        source = f"chosen on split {spec.split!r} ({spec.n_queries} queries, rule {spec.rule}; dev {spec.metric}: {dev})"
    cold = spec.cold
    if cold is not None:
        source += (f"; cold = {cold.source}'s ranking of items with at most {cold.max_events} training events"
                   + (f", weights kept {cold.share:g} of {cold.source}'s dev {spec.metric} on the {cold.queries} cold "
                      f"targets (floor {cold.floor:.4f}, reached {cold.reached:.4f})"
                      if cold.floor is not None and cold.reached is not None and cold.share is not None else ""))
    if spec.slot is not None:
        slot = spec.slot
        source += f"; cold slot: {slot.describe()}" + (
            f" (dev: {slot.queries} cold targets {slot.without:.4f} → {slot.reached:.4f}, all "
            f"{slot.dev_without:.4f} → {spec.dev_metric.get('hybrid', 0.0):.4f})"
            if slot.reached is not None and slot.without is not None and slot.dev_without is not None else "")
    lexical = f"; bm25 = BM25 {spec.expansion.describe()}" if spec.expansion is not None else ""
    return f"{parts} fused: {spec.describe()}, top {spec.depth} of each{lexical}; {source}"


def save_model_fusion(spec: FusionSpec, model: str | Path) -> Path | None:
    """Keep the hybrid's fusion in the model folder (what serving fuses with); ``None`` when not written.

    Not written for the bundled base model, nor over a fusion chosen on data with a documented default.
    """
    folder = model_folder(model)
    if folder is None:
        return None
    path = folder / FUSION_FILE
    if path.is_file():
        try:
            old = FusionSpec.load(path)
        except EmbedtuneError:
            old = None
        if old == spec or (old is not None and spec.default and not old.default):
            return None
    return spec.save(path)
