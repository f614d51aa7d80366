"""Evaluate a model on one split next to its baselines, and write ``eval.json`` / ``eval.md``.

Systems: ``model`` (the model under test), ``base`` (the base model, zero-shot) and, by the split's
kind, ``bm25`` (retrieval and site data) or ``popularity``, ``cooccurrence``, ``transitions`` and ``attributes``
(recommendation data); where the DATA_DIR has real training queries, also ``bm25_expanded``: BM25 over each
document plus the training queries that judge it (:mod:`embedtune.data.expansion`), which the hybrid's ``bm25``
part becomes when the dev split says the hybrid is better with it (``fusion.json`` → ``expansion``).
Each is compared with the model by a paired bootstrap over queries on NDCG@10. Every kind also gets
``hybrid`` and ``base_hybrid`` (no training): the model, and the base model, fused with BM25 on
retrieval and site data, with ``cooccurrence``, ``transitions``, ``popularity`` and ``attributes`` on recommendation data
(a user is a query), with weights chosen on the dev split only (:mod:`embedtune.eval.hybrid`), and the comparisons
of ``hybrid`` with each part, ``base`` and ``base_hybrid``. When the fitted model weight is ~0 or the
model learned nothing, the verdict and the warnings say so (:func:`~embedtune.eval.hybrid.hybrid_caveat`):
fusion must not hide a model that adds nothing.

``eval.json`` schema (``schema_version`` 1)::

    {
      "schema_version": 1,
      "data": "<DATA_DIR>", "split": "test", "kind": "retrieval" | "site" | "recsys",
      "n_queries": 300, "n_corpus": 5183,
      "primary_metric": "ndcg@10",
      "systems": {"model": {"ndcg@10": 0.71, "recall@10": ..., "mrr@10": ..., "map@100": ...,
                            "accuracy@1": ..., "precision@1": ..., ...},
                  "base": {...}, "bm25": {...}, "bm25_expanded": {...} (real training queries only),
                  "hybrid": {...}, "base_hybrid": {...}},
                  # recommendation data: "popularity", "cooccurrence", "transitions", "attributes" instead of "bm25"
      "descriptions": {"model": "...", "base": "...", "bm25": "..."},
      "comparisons": [{"system": "model", "baseline": "base", "metric": "ndcg@10",
                       "system_score", "baseline_score", "mean_diff", "ci_low", "ci_high",
                       "verdict": "better" | "no detectable difference" | "worse",
                       "n_queries", "wins", "ties", "losses"}, ...],
      "verdict": "<one line>",
      "query_origin": "real" | "generated",
      "lexical_overlap": <BM25's ndcg@10 on this split, when its queries are generated> | null,
      "recommendation": "<one line: what to serve>" | null,
      "fusion": {"hybrid": <fusion.json of the hybrid>, "base_hybrid": {...}},
      "chance": {"recall@10": <expected recall@10 of a random ranking>},
      "slices": {"<slice>": {"<value>": {"n_queries": n, "<system>": {"ndcg@10": ..., "recall@10": ...}}}},
      "warnings": ["..."],
      "seconds": {"<system>": wall-clock seconds}
    }

A split of generated queries (site data built without real questions: ``embedtune.json`` →
``query_origin``) gets no verdict: its queries were written from the passages they are judged
against, so a gain on them is no evidence that real users' searches improve. The verdict says so
first, shows BM25's score on the split (the lexical overlap), and recommends serving the
training-free ``base_hybrid`` until real questions exist.

Beside it: ``per_query.jsonl`` (one line per query: id, text, and each system's metrics),
``runs/<system>.trec`` (top-100 per query in TREC run format: ``qid Q0 docid rank score system``) and
``fusion.json`` (the hybrid's :class:`~embedtune.fusion.FusionSpec`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedtune.base_model import DEFAULT_BASE_MODEL
from embedtune.data.beir import load_retrieval_split
from embedtune.data.expansion import TRAIN_SPLIT, training_expansions
from embedtune.data.kinds import data_kind
from embedtune.data.origin import GENERATED, HOW_TO_ADD_REAL_QUESTIONS, REAL, split_query_origin
from embedtune.data.records import RetrievalSplit
from embedtune.errors import EmbedtuneError
from embedtune.eval.bootstrap import BETTER, SAME, Comparison, compare, on_generated_queries
from embedtune.eval.hybrid import (
    BASE_HYBRID,
    HYBRID,
    check_fusion,
    check_keep_cold,
    cold_items,
    hybrid_caveat,
    hybrid_fusions,
)
from embedtune.eval.hybrid import describe as describe_fusion
from embedtune.eval.schema import SCHEMA_VERSION, EvalReport
from embedtune.eval.systems import EXPANDED_BM25, BM25System, DenseSystem, RankingSystem, Run
from embedtune.fileio import atomic_path, write_json_atomic, write_text_atomic
from embedtune.fusion import (
    DEFAULT_COLD_SLOT,
    FUSION_FILE,
    ColdSlotMode,
    FusionSpec,
    check_cold_slot,
    fuse_runs,
    model_folder,
)
from embedtune.metrics import (
    MetricSpec,
    mean_metrics,
    per_query_metrics,
)

logger = logging.getLogger(__name__)

PRIMARY_METRIC = "ndcg@10"
RUN_DEPTH = 100


@dataclass
class SystemResult:
    name: str
    description: str
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]]
    run: Run
    seconds: float

    def scores(self, query_ids: Sequence[str], metric: str = PRIMARY_METRIC) -> np.ndarray:
        """``metric`` of each of ``query_ids``, in that order (what the paired bootstrap and slices read)."""
        return np.array([self.per_query[q][metric] for q in query_ids])


def near_chance(metrics: dict[str, float], chance: dict[str, float]) -> bool:
    """Recall@10 within 2x of a random ranking's; only judged where a random ranking is far from perfect
    (catalogs much larger than 10 items)."""
    level = chance.get("recall@10")
    return level is not None and level < 0.25 and metrics.get("recall@10", 0.0) <= 2 * level


def _diff(c: Comparison) -> str:
    return f"{c.mean_diff:+.4f} {c.metric}, 95% CI [{c.ci_low:+.4f}, {c.ci_high:+.4f}]"


@dataclass
class EvalResult:
    data: str
    split: RetrievalSplit
    spec: MetricSpec
    systems: dict[str, SystemResult]
    comparisons: list[Comparison]
    chance: dict[str, float]
    slices: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    query_origin: str = REAL
    #: BM25's primary metric on this split, reported when its queries are generated.
    lexical_overlap: float | None = None
    #: The fusion of each hybrid system (``hybrid``, ``base_hybrid``), as chosen for this evaluation.
    fusions: dict[str, FusionSpec] = field(default_factory=dict)
    #: The model's training loss stayed at chance level (its folder's ``train_log.json``, or ``train`` itself).
    model_learned_nothing: bool = False

    @property
    def model_near_chance(self) -> bool:
        return "model" in self.systems and near_chance(self.systems["model"].metrics, self.chance)

    @property
    def hybrid_caveat(self) -> str | None:
        """What the hybrid's score must not hide: the model's fitted weight is ~0, or it learned nothing."""
        if HYBRID not in self.fusions or HYBRID not in self.systems:
            return None
        return hybrid_caveat(self.fusions[HYBRID], learned_nothing=self.model_learned_nothing,
                             near_chance=self.model_near_chance)

    @property
    def all_warnings(self) -> list[str]:
        """The warnings of ``eval.json``: those found while evaluating, then the hybrid's caveat."""
        caveat = self.hybrid_caveat
        return [*self.warnings, caveat] if caveat else list(self.warnings)

    @property
    def generated(self) -> bool:
        return self.query_origin == GENERATED

    @property
    def headline(self) -> str | None:
        """What must come before any number: set when the split holds generated queries."""
        if not self.generated:
            return None
        overlap = (
            f"; BM25 scores {self.lexical_overlap:.4f} {PRIMARY_METRIC} on them (lexical overlap: they share "
            "words with the passages they were written from)"
            if self.lexical_overlap is not None else ""
        )
        return (
            "generated queries only — not evidence that real users' searches improve: the "
            f"{len(self.split.query_ids)} queries of split `{self.split.name}` were generated from the corpus{overlap}"
        )

    @property
    def recommendation(self) -> str | None:
        """One line on what to serve, or ``None`` when this split cannot say (no hybrid was scored)."""
        if self.generated:
            return (
                "serve base_hybrid (the base model fused with BM25: no training) until real questions exist; "
                + HOW_TO_ADD_REAL_QUESTIONS
            )
        if HYBRID not in self.systems:
            return None
        vs = {c.baseline: c for c in self.comparisons if c.system == HYBRID}
        # On a tie the system that needs less wins: no model first, then no training, then no fusion.
        # BM25 with training queries is served (lexical mode) only by an index built for a hybrid that chose it.
        expanded = self.fusions[HYBRID].expansion is not None if HYBRID in self.fusions else False
        servable = [n for n in ("popularity", "cooccurrence", "transitions", "attributes", "bm25",
                                *((EXPANDED_BM25,) if expanded else ()), "base", BASE_HYBRID, "model", HYBRID)
                    if n in self.systems]
        best = max(servable, key=lambda n: self.systems[n].metrics[PRIMARY_METRIC])
        others = data_kind(self.split.kind).hybrid_with
        fused_with = " and ".join(others)

        def over(name: str, label: str | None = None) -> str:
            c = vs[name]
            return (f"{c.mean_diff:+.4f} {c.metric} over {label or name} "
                    f"(95% CI [{c.ci_low:+.4f}, {c.ci_high:+.4f}], {c.verdict})")

        if best == HYBRID:
            line = "serve hybrid: " + over("model", "the fine-tuned model")
            strongest = max((p for p in (*others, EXPANDED_BM25) if p in vs), key=lambda p: self.systems[p].metrics[PRIMARY_METRIC],
                            default=None)
            if strongest is not None:
                line += "; " + over(strongest)
            if BASE_HYBRID in vs:
                line += "; " + over(BASE_HYBRID)
                if vs[BASE_HYBRID].verdict != BETTER:
                    line += " — once fused, the fine-tune adds nothing detectable: base_hybrid (no training) serves as well"
            return line
        if best == BASE_HYBRID:
            return (f"serve base_hybrid (the base model fused with {fused_with.replace('bm25', 'BM25')}: no training); "
                    "hybrid scores " + over(BASE_HYBRID))
        served = {"model": "the fine-tuned model alone (dense)", "base": "the base model alone (dense, no training)",
                  "bm25": "bm25 alone", EXPANDED_BM25: "BM25 over the documents plus their training queries alone "
                  "(lexical mode of an index built for this model)", "cooccurrence": "cooccurrence alone (no model)",
                  "transitions": "transitions alone (no model)", "attributes": "attributes alone (no model)",
                  "popularity": "popularity alone (no model)"}[best]
        return f"serve {served}: it scores best here; hybrid scores " + over(best)

    @property
    def verdict(self) -> str:
        if self.generated:
            measured = "; ".join(f"{c.system} − {c.baseline} {_diff(c)}" for c in self.comparisons)
            return f"{self.headline}. Measured on them: {measured or 'no comparison'}"
        if not self.comparisons:
            return "no baseline to compare with"
        by_system: dict[str, list[str]] = {}
        for c in self.comparisons:
            said = f"{c.verdict} than {c.baseline}" if c.verdict != SAME else f"{c.verdict} from {c.baseline}"
            by_system.setdefault(c.system, []).append(f"{said} ({_diff(c)})")
        caveat = self.hybrid_caveat
        if caveat and HYBRID in by_system:
            by_system[HYBRID].append(f"but {caveat}")
        return ". ".join(f"{system}: " + "; ".join(parts) for system, parts in by_system.items())

    def to_report(self) -> EvalReport:
        """This evaluation as the typed record of ``eval.json``."""
        return EvalReport(
            schema_version=SCHEMA_VERSION,
            data=self.data,
            split=self.split.name,
            kind=self.split.kind,
            n_queries=len(self.split.query_ids),
            n_corpus=len(self.split.corpus),
            primary_metric=PRIMARY_METRIC,
            systems={name: dict(sr.metrics) for name, sr in self.systems.items()},
            descriptions={name: sr.description for name, sr in self.systems.items()},
            comparisons=list(self.comparisons),
            verdict=self.verdict,
            query_origin=self.query_origin,
            lexical_overlap=self.lexical_overlap,
            recommendation=self.recommendation,
            fusion=dict(self.fusions),
            chance=self.chance,
            slices=self.slices,
            warnings=self.all_warnings,
            seconds={name: round(sr.seconds, 2) for name, sr in self.systems.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return self.to_report().model_dump(mode="json")

    def table_metrics(self) -> tuple[str, ...]:
        return data_kind(self.split.kind).table_columns

    def to_markdown(self) -> str:
        cols = self.table_metrics()
        lines = [f"**Verdict:** {self.verdict}", ""]
        if self.recommendation:
            lines += [f"**Recommendation:** {self.recommendation}.", ""]
        lines += [
            f"Split `{self.split.name}` of `{self.data}`: {len(self.split.query_ids)} queries, "
            f"{len(self.split.corpus)} documents ({self.split.kind}, {self.query_origin} queries).",
            "",
            "| system | " + " | ".join(cols) + " |",
            "|---|" + "---:|" * len(cols),
        ]
        for name, sr in self.systems.items():
            lines.append(f"| {name} | " + " | ".join(f"{sr.metrics.get(c, float('nan')):.4f}" for c in cols) + " |")
        if self.comparisons:
            lines += [
                "",
                f"Paired bootstrap over queries ({PRIMARY_METRIC}, 95% CI):",
                "",
                "| comparison | diff | 95% CI | wins / ties / losses | verdict |",
                "|---|---:|---|---|---|",
            ]
            for c in self.comparisons:
                label = on_generated_queries(c.verdict) if self.generated else c.verdict
                lines.append(
                    f"| {c.system} − {c.baseline} | {c.mean_diff:+.4f} | [{c.ci_low:+.4f}, {c.ci_high:+.4f}] | "
                    f"{c.wins} / {c.ties} / {c.losses} | {label} |"
                )
        for name, f in self.fusions.items():
            source = "documented default" if f.default else f"chosen on split `{f.split}` ({f.n_queries} queries, rule {f.rule})"
            lines += ["", f"Fusion of `{name}`: {f.describe()}, top {f.depth} of each part; {source}."]
        if self.chance:
            lines += ["", "Chance level (random ranking): " + ", ".join(f"{k} {v:.4f}" for k, v in self.chance.items())]
        for slice_name, values in self.slices.items():
            names = list(self.systems)
            lines += ["", f"Slice `{slice_name}` ({PRIMARY_METRIC}):", "", "| value | n | " + " | ".join(names) + " |",
                      "|---|---:|" + "---:|" * len(names)]
            for value, row in values.items():
                lines.append(
                    f"| {value} | {row['n_queries']} | " + " | ".join(f"{row[n][PRIMARY_METRIC]:.4f}" for n in names) + " |"
                )
        if self.all_warnings:
            lines += ["", "Warnings:", ""] + [f"- {w}" for w in self.all_warnings]
        lines += ["", "System descriptions:", ""] + [f"- **{n}**: {sr.description}" for n, sr in self.systems.items()]
        return "\n".join(lines) + "\n"


def _score_system(system: RankingSystem, split: RetrievalSplit, spec: MetricSpec, depth: int) -> SystemResult:
    start = time.perf_counter()
    run = system.rank(split, depth)
    return _scored_run(system.name, system.description, run, split, spec, time.perf_counter() - start)


def _scored_run(name: str, description: str, run: Run, split: RetrievalSplit, spec: MetricSpec,
                seconds: float) -> SystemResult:
    per_query = per_query_metrics({q: [d for d, _ in run.get(q, [])] for q in split.query_ids},
                                  {q: split.relevant(q) for q in split.query_ids}, spec)
    return SystemResult(name=name, description=description, metrics=mean_metrics(per_query), per_query=per_query,
                        run=run, seconds=seconds)


def _chance(split: RetrievalSplit, k: int = 10) -> dict[str, float]:
    n_docs = len(split.corpus)
    values = []
    for qid in split.query_ids:
        n_cand = max(1, n_docs - len(split.exclude.get(qid, ())))
        values.append(min(k, n_cand) / n_cand)
    return {f"recall@{k}": float(np.mean(values))}


def _read_slices(data_dir: Path, split: RetrievalSplit) -> dict[str, dict[str, list[str]]]:
    path = data_dir / "slices" / f"{split.name}.tsv"
    if not path.is_file():
        return {}
    from embedtune.fileio import iter_tsv

    groups: dict[str, dict[str, list[str]]] = {}
    for line, fields in iter_tsv(path):
        if line == 1 and fields[0].strip().lower() == "query-id":
            continue
        if len(fields) < 3:
            from embedtune.errors import DataError

            raise DataError(path, "expected query-id, slice and value separated by tabs", line)
        groups.setdefault(fields[1], {}).setdefault(fields[2], []).append(fields[0])
    return groups


def _slice_metrics(groups, systems: dict[str, SystemResult], split: RetrievalSplit) -> dict[str, Any]:
    evaluated = set(split.query_ids)
    out: dict[str, Any] = {}
    for slice_name, values in groups.items():
        out[slice_name] = {}
        for value, qids in sorted(values.items()):
            qids = [q for q in qids if q in evaluated]
            if not qids:
                continue
            row: dict[str, Any] = {"n_queries": len(qids)}
            for name, sr in systems.items():
                row[name] = {
                    m: float(np.mean(sr.scores(qids, m))) for m in (PRIMARY_METRIC, "recall@10")
                }
            out[slice_name][value] = row
    return out


def baseline_systems(
    data_dir: Path, split: RetrievalSplit, base_model: str, batch_size: int, max_seq_length: int | None, **dense_kw
) -> list[RankingSystem]:
    """The baselines that fit this kind of data (:class:`~embedtune.data.kinds.DataKind`): the base model
    plus BM25, or the recommendation baselines (popularity, co-occurrence, transitions, attributes)."""
    systems: list[RankingSystem] = [
        DenseSystem("base", base_model, f"base model {base_model}, zero-shot", batch_size, max_seq_length, **dense_kw)
    ]
    kind = data_kind(split.kind)
    if "bm25" in kind.baselines:
        systems.append(BM25System())
        # BM25 over documents plus their real training queries: a baseline of its own, and the hybrid's lexical
        # part where dev says it helps (never when the training queries themselves are being scored).
        expansions = training_expansions(data_dir, split.corpus) if split.name != TRAIN_SPLIT else {}
        if expansions:
            systems.append(BM25System(expansions=expansions))
    if {"popularity", "cooccurrence"} & set(kind.baselines):
        from embedtune.recsys.baselines import recsys_baselines

        systems.extend(recsys_baselines(data_dir, split))
    return systems


def evaluate(
    model: str | Path,
    data_dir: str | Path,
    split: str = "test",
    *,
    base_model: str = DEFAULT_BASE_MODEL,
    baselines: bool = True,
    extra_systems: Sequence[RankingSystem] = (),
    batch_size: int = 64,
    max_seq_length: int | None = None,
    n_resamples: int = 10_000,
    seed: int = 0,
    use_cache: bool = True,
    show_progress: bool = False,
    loaded_model=None,
    loaded_split: RetrievalSplit | None = None,
    model_description: str | None = None,
    hybrid: bool = True,
    fusion: FusionSpec | None = None,
    keep_cold: float | None = None,
    cold_slot: ColdSlotMode = DEFAULT_COLD_SLOT,
) -> EvalResult:
    """Score ``model`` and the baselines on one split of a BEIR-layout folder.

    With baselines, also the ``hybrid`` (model ⊕ the kind's ``hybrid_with`` baselines: BM25, or
    co-occurrence, transitions, popularity and attributes) and ``base_hybrid`` (the base model ⊕ the same) systems, fused as
    :mod:`embedtune.eval.hybrid` says (``hybrid=False`` skips them; ``fusion`` imposes a fusion instead
    of choosing one on the dev split; ``keep_cold``, on recommendation data, keeps that share of the model's
    dev score on cold targets in the hybrid: :func:`~embedtune.eval.hybrid.hybrid_fusions`; ``cold_slot``
    (``auto``, ``on``, ``off``) whether the hybrid keeps a place for the model's best new item there).
    """
    data_dir = Path(data_dir)
    ret = loaded_split if loaded_split is not None else load_retrieval_split(data_dir, split)
    kind = data_kind(ret.kind)
    spec = kind.metrics
    depth = max(RUN_DEPTH, spec.max_k, fusion.depth if fusion is not None else 0)
    if fusion is not None and hybrid and baselines:
        check_fusion(fusion, kind.hybrid_with)  # before minutes of ranking
    check_cold_slot(cold_slot)  # before minutes of ranking
    if keep_cold is not None:
        if not kind.cold_part:
            raise EmbedtuneError("keep_cold is for recommendation data (cold items are items with few training events)")
        check_keep_cold(keep_cold)
    dense_kw = {"use_cache": use_cache, "show_progress": show_progress}
    model_system = DenseSystem(
        "model", model, model_description or f"model under test: {model}", batch_size, max_seq_length,
        model=loaded_model, **dense_kw,
    )
    systems: list[RankingSystem] = [model_system]
    if baselines:
        systems += baseline_systems(data_dir, ret, base_model, batch_size, max_seq_length, **dense_kw)
    systems += list(extra_systems)

    results: dict[str, SystemResult] = {}
    dense: dict[str, RankingSystem] = {"model": model_system}
    for system in systems:
        if (
            isinstance(system, DenseSystem)
            and system is not model_system
            and system.model_path == model_system.model_path
            and loaded_model is None
        ):
            # Evaluating the base model itself: its baseline row is the same ranking, computed once.
            same = results["model"]
            results[system.name] = SystemResult(system.name, system.description, same.metrics, same.per_query, same.run, 0.0)
            dense[system.name] = model_system
            continue
        logger.info("ranking with %s", system.name)
        results[system.name] = _score_system(system, ret, spec, depth)
        if isinstance(system, DenseSystem):
            dense[system.name] = system

    qids = ret.query_ids

    def scores_of(name: str) -> np.ndarray:
        return results[name].scores(qids)

    comparisons = [compare("model", name, PRIMARY_METRIC, scores_of("model"), scores_of(name), n_resamples, seed)
                   for name in results if name != "model"]

    fusions: dict[str, FusionSpec] = {}
    others = {s.name: s for name in kind.hybrid_with for s in systems if s.name == name}
    expanded = next((s for s in systems if isinstance(s, BM25System) and s.name == EXPANDED_BM25), None)
    if hybrid and kind.hybrid_with and len(others) == len(kind.hybrid_with):
        fusions = hybrid_fusions(ret, data_dir, {k: v for k, v in dense.items() if k in ("model", "base")},
                                 others, depth, model_dir=model_folder(model), fusion=fusion, keep_cold=keep_cold,
                                 expanded=expanded, cold_slot=cold_slot)
        cold_by_threshold: dict[int, frozenset[str]] = {}  # the training events are counted once per threshold
        for name, fspec in fusions.items():
            started = time.perf_counter()
            cold = None
            made = fspec.cold or fspec.slot
            if made is not None:
                if made.max_events not in cold_by_threshold:
                    cold_by_threshold[made.max_events] = cold_items(data_dir, list(ret.corpus), made.max_events)[0]
                cold = cold_by_threshold[made.max_events]
            centred = None
            if fspec.slot is not None:  # the slot's source ranks the users again, their vectors centred
                source = dense[fspec.slot.source]
                if not isinstance(source, DenseSystem):
                    raise EmbedtuneError(f"the cold slot's source {fspec.slot.source!r} is not a dense model")
                centred = source.rank(ret, depth, shift=fspec.slot.centre * np.asarray(fspec.slot.mean))
            part_runs = {p: results[p].run for p in fspec.parts if p in results}
            if fspec.expansion is not None:  # hybrid_fusions keeps it only where bm25_expanded was scored
                part_runs["bm25"] = results[EXPANDED_BM25].run
            # a cold part is made by fuse_runs from its source's run
            run = fuse_runs(fspec, part_runs, k=depth, cold=cold, centred=centred)
            results[name] = _scored_run(name, describe_fusion(fspec, " ⊕ ".join(fspec.parts)), run, ret, spec,
                                        time.perf_counter() - started)
        comparisons += [compare(HYBRID, name, PRIMARY_METRIC, scores_of(HYBRID), scores_of(name), n_resamples, seed)
                        for name in ("model", *others, EXPANDED_BM25, "base", BASE_HYBRID)
                        if name in results and HYBRID in results]

    chance = _chance(ret)
    warnings = []
    model_recall = results["model"].metrics.get("recall@10", 0.0)
    # Only meaningful when a random ranking is far from perfect (corpus much larger than 10 items).
    if near_chance(results["model"].metrics, chance):
        warnings.append(
            f"the model's recall@10 ({model_recall:.4f}) is within 2x of a random ranking ({chance['recall@10']:.4f}): "
            "it has learned (almost) nothing usable on this split"
        )
    for c in comparisons:
        if c.verdict == SAME and c.system == "model" and c.baseline == "base":
            warnings.append(
                f"no detectable difference from the base model on {c.n_queries} queries "
                f"(95% CI [{c.ci_low:+.4f}, {c.ci_high:+.4f}]): the fine-tune did not measurably help"
            )
    origin = split_query_origin(data_dir, ret.name, ret.kind)
    overlap = None
    if origin == GENERATED:
        bm25 = results.get("bm25") or _score_system(BM25System(), ret, spec, depth)
        overlap = bm25.metrics[PRIMARY_METRIC]
    groups = _read_slices(data_dir, ret)
    slices = _slice_metrics(groups, results, ret)
    lost = _lost_cold_items(groups.get("target_popularity", {}).get("cold", []), results, fusions, ret,
                            n_resamples, seed)
    if lost:
        warnings.append(lost)
    return EvalResult(
        data=str(data_dir),
        split=ret,
        spec=spec,
        systems=results,
        comparisons=comparisons,
        chance=chance,
        slices=slices,
        warnings=warnings,
        query_origin=origin,
        lexical_overlap=overlap,
        fusions=fusions,
        model_learned_nothing=_trained_to_nothing(model_folder(model)),
    )


def _lost_cold_items(cold_queries: list[str], results: dict[str, SystemResult], fusions: dict[str, FusionSpec],
                     split: RetrievalSplit, n_resamples: int, seed: int) -> str | None:
    """A warning when the hybrid ranks cold-item targets below the model alone (recommendation data).

    ``cold_queries`` are the split's ``target_popularity = cold`` queries (the target has at most the DATA_DIR's
    ``cold_threshold`` training events). Co-occurrence and popularity know nothing of such items, so a hybrid
    fitted to the overall score tends to drop what the text tower alone ranks; ``--keep-cold`` is the fix,
    at a cost overall. No warning when the hybrid already keeps a cold part, or is not below the model there.
    """
    if HYBRID not in results or "model" not in results or HYBRID not in fusions or fusions[HYBRID].cold is not None:
        return None
    evaluated = set(split.query_ids)
    qids = [q for q in cold_queries if q in evaluated]
    if not qids:
        return None
    c = compare(HYBRID, "model", PRIMARY_METRIC, results[HYBRID].scores(qids), results["model"].scores(qids),
                n_resamples, seed)
    if c.mean_diff >= 0:
        return None
    return (f"the hybrid ranks new and rare items below the model alone: on the {len(qids)} users whose target "
            f"is a cold item, hybrid {c.system_score:.4f} vs model {c.baseline_score:.4f} {PRIMARY_METRIC} "
            f"({c.mean_diff:+.4f}, 95% CI [{c.ci_low:+.4f}, {c.ci_high:+.4f}], {c.verdict}); to keep them, "
            "`embedtune eval --keep-cold 1` chooses the weights on dev among those that keep the model's "
            "cold-target score, at a cost overall (docs/recsys.md, \"Cold items\")")


def _trained_to_nothing(folder: Path | None) -> bool:
    """The model folder's ``train_log.json`` says its training loss stayed at chance level (``embedtune.chance``)."""
    path = folder / "train_log.json" if folder is not None else None
    if path is None or not path.is_file():
        return False
    try:
        return bool(json.loads(path.read_text(encoding="utf-8")).get("learned_nothing"))
    except (OSError, ValueError, AttributeError):
        return False  # an unreadable log is the report's to flag; the evaluation itself stands


def write_eval(result: EvalResult, out_dir: str | Path) -> Path:
    """Write eval.json, eval.md, per_query.jsonl, runs/*.trec and (with a hybrid) fusion.json into ``out_dir``.

    Each file is written atomically. ``fusion.json`` is the ``hybrid`` system's fusion: in a model
    folder (``train`` evaluates into it) it is what serving fuses with.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "eval.json", result.to_dict())
    write_text_atomic(out_dir / "eval.md", "# Evaluation\n\n" + result.to_markdown())
    with atomic_path(out_dir / "per_query.jsonl") as tmp, tmp.open("w", encoding="utf-8") as fh:
        for qid in result.split.query_ids:
            row = {
                "query_id": qid,
                "query": result.split.queries[qid],
                "relevant": sorted(result.split.relevant(qid)),
                "metrics": {name: sr.per_query[qid] for name, sr in result.systems.items()},
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    if HYBRID in result.fusions:
        result.fusions[HYBRID].save(out_dir / FUSION_FILE)
    runs_dir = out_dir / "runs"
    runs_dir.mkdir(exist_ok=True)
    for name, sr in result.systems.items():
        with atomic_path(runs_dir / f"{name}.trec") as tmp, tmp.open("w", encoding="utf-8") as fh:
            for qid in result.split.query_ids:
                for rank, (doc_id, score) in enumerate(sr.run.get(qid, [])[:RUN_DEPTH], start=1):
                    fh.write(f"{qid} Q0 {doc_id} {rank} {score:.6f} {name}\n")
    return out_dir
