"""Render one run (or several) into a single self-contained HTML page.

The page is a Jinja2 template with autoescaping on (every query, document and message from the data
is escaped), CSS inline and the figures embedded as SVG data URIs: it opens from disk with no
network and no files beside it. :func:`write_report` and :func:`write_comparison` are the entry
points; :func:`build_report_context` / :func:`build_comparison_context` compute what the page shows.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from embedtune.data.kinds import data_kind
from embedtune.errors import EmbedtuneError
from embedtune.eval.bootstrap import on_generated_queries
from embedtune.fileio import write_text_atomic
from embedtune.report import plots
from embedtune.report.load import QueryResult, RunData, load_run, read_documents

#: Example queries (or users) shown with their top results.
N_EXAMPLES = 10
#: Results shown per system in each example.
EXAMPLE_DEPTH = 3
#: Characters shown of a document or query text in the examples.
DOC_CHARS = 220
QUERY_CHARS = 400
EPS = 1e-9


@dataclass
class ExampleHit:
    doc_id: str
    title: str
    text: str
    relevant: bool


@dataclass
class Example:
    query_id: str
    query: str
    outcome: str  # "win", "loss" or "tie" of the model against the base model
    scores: dict[str, float]
    hits: dict[str, list[ExampleHit]]
    relevant: list[str]
    missed: int = 0  # relevant documents in none of the shown top-k lists


@dataclass
class Section:
    """A report section: its figure (data URI) or, when its input is missing, one line saying so."""

    image: str | None = None
    missing: str | None = None
    facts: list[tuple[str, str]] = field(default_factory=list)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _run_name(run_dir: Path, run: RunData) -> str:
    # Inside `train` the report is written while the folder still has its temporary name; the
    # config records where it is going.
    output = (run.config or {}).get("output")
    return Path(output).name if output else run.name


def _unit(run: RunData) -> str:
    return run.eval.profile.unit if run.eval is not None else "query"


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _relevant_sets(run: RunData) -> dict[str, set[str]]:
    return {q.query_id: set(q.relevant) for q in run.per_query if q.relevant}


def _doc_ids(run: RunData, system: str) -> dict[str, list[str]]:
    return {qid: [d for d, _ in ranked] for qid, ranked in run.runs.get(system, {}).items()}


def pick_examples(per_query: list[QueryResult], metric: str = "ndcg@10", n: int = N_EXAMPLES, seed: int = 0):
    """The queries to show: the model's largest wins and losses against the base model, then a seeded sample.

    Returns ``(query, outcome)`` pairs; without a base model in ``per_query``, a seeded sample.
    """
    scored = [q for q in per_query if "model" in q.metrics and "base" in q.metrics]
    if not scored:
        sample = random.Random(seed).sample(per_query, min(n, len(per_query)))
        return [(q, "") for q in sample]

    def diff(q: QueryResult) -> float:
        return q.metrics["model"].get(metric, 0.0) - q.metrics["base"].get(metric, 0.0)

    wins = sorted((q for q in scored if diff(q) > EPS), key=lambda q: (-diff(q), q.query_id))
    losses = sorted((q for q in scored if diff(q) < -EPS), key=lambda q: (diff(q), q.query_id))
    chosen = wins[: max(1, n * 4 // 10)] + losses[: max(1, n * 3 // 10)]
    taken = {q.query_id for q in chosen}
    rest = [q for q in scored if q.query_id not in taken]
    chosen += random.Random(seed).sample(rest, min(len(rest), n - len(chosen)))
    outcome = {True: "win", False: "loss"}
    return [(q, "tie" if abs(diff(q)) <= EPS else outcome[diff(q) > 0]) for q in chosen[:n]]


def _examples(run: RunData, corpus_dir: Path | None) -> list[Example]:
    if not run.per_query or not run.runs:
        return []
    systems = [s for s in ("base", "model") if s in run.runs] or list(run.runs)[:2]
    picked = pick_examples(run.per_query)
    wanted = set()
    for q, _ in picked:
        wanted.update(q.relevant)
        for s in systems:
            wanted.update(d for d, _ in run.runs[s].get(q.query_id, [])[:EXAMPLE_DEPTH])
    docs = read_documents(corpus_dir / "corpus.jsonl", wanted) if corpus_dir is not None else {}
    examples = []
    for q, outcome in picked:
        rel = set(q.relevant)
        hits: dict[str, list[ExampleHit]] = {}
        shown = set()
        for s in systems:
            hits[s] = []
            for doc_id, _ in run.runs[s].get(q.query_id, [])[:EXAMPLE_DEPTH]:
                doc = docs.get(doc_id)
                hits[s].append(ExampleHit(doc_id, _clip(doc.title, 120) if doc else "",
                                          _clip(doc.text, DOC_CHARS) if doc else "", doc_id in rel))
                shown.add(doc_id)
        examples.append(Example(
            query_id=q.query_id, query=_clip(q.query, QUERY_CHARS), outcome=outcome,
            scores={s: q.metrics.get(s, {}).get("ndcg@10", float("nan")) for s in systems},
            hits=hits, relevant=sorted(rel)[:5], missed=len(rel - shown),
        ))
    return examples


def _metric_table(run: RunData) -> dict[str, Any]:
    ev = run.eval
    assert ev is not None
    cols = [c for c in ev.profile.table_columns
            if any(c in m for m in ev.systems.values())]
    best = {c: max(m.get(c, float("-inf")) for m in ev.systems.values()) for c in cols}
    # A column where every system scores the same has no best value.
    tied = {c for c in cols if all(abs(m.get(c, float("-inf")) - best[c]) <= EPS for m in ev.systems.values())}
    rows = []
    for name, metrics in ev.systems.items():
        rows.append({
            "name": name,
            "description": ev.descriptions.get(name, ""),
            "cells": [{"value": _fmt(metrics.get(c)),
                       "best": c in metrics and c not in tied and abs(metrics[c] - best[c]) <= EPS}
                      for c in cols],
        })
    return {"columns": cols, "rows": rows}


def _training_section(run: RunData) -> Section:
    log = run.train_log
    if log is None:
        return Section(missing=run.missing.get("train_log", "no training log"))
    dev_metric = "cosine_ndcg@10"
    dev = {}
    points = [(r["epoch"], r[dev_metric]) for r in log.dev_history if "epoch" in r and dev_metric in r]
    if points:
        dev["dev"] = ([p[0] for p in points], [p[1] for p in points])
    image = None
    if log.losses:
        image = plots.loss_plot({"loss": (log.loss_steps, log.losses)}, log.chance_loss, dev, "ndcg@10")
    facts = []
    if log.n_pairs is not None:
        facts.append(("training pairs", f"{log.n_pairs:,}"))
    if log.epoch_losses:
        facts.append(("mean loss per epoch", ", ".join(f"{v:.3f}" for v in log.epoch_losses)))
    if log.chance_loss is not None:
        facts.append(("chance loss ln(candidates)", f"{log.chance_loss:.3f}"))
    if points:
        facts.append(("dev ndcg@10 per epoch", ", ".join(f"{e:g}: {v:.4f}" for e, v in points)))
    if log.best_checkpoint:
        facts.append(("kept checkpoint", str(log.best_checkpoint)))
    if log.train_seconds is not None:
        facts.append(("training time", f"{log.train_seconds:,.0f} s"))
    if log.pairs_per_second:
        facts.append(("throughput", f"{log.pairs_per_second:,.1f} pairs/s"))
    cfg = run.config or {}
    for key in ("base_model", "epochs", "batch_size", "lr", "max_seq_length", "hard_negatives"):
        if key in cfg:
            facts.append((key.replace("_", " "), str(cfg[key])))
    missing = None if image else "the training log has no logged loss values."
    return Section(image=image, missing=missing, facts=facts)


def _curves_section(run: RunData) -> Section:
    relevant = _relevant_sets(run)
    if not run.runs or not relevant:
        return Section(missing=run.missing.get("runs") or run.missing.get("per_query") or "no rankings to draw")
    order = [s for s in ("model", "base") if s in run.runs] + [s for s in run.runs if s not in ("model", "base")]
    systems = {s: _doc_ids(run, s) for s in order}
    return Section(image=plots.metric_curves(systems, relevant))


def _win_tie_loss_section(run: RunData) -> Section:
    rows = [q for q in run.per_query if "model" in q.metrics and "base" in q.metrics]
    if not rows:
        return Section(missing=run.missing.get("per_query") or "per_query.jsonl has no model and base scores to compare.")
    diffs = [q.metrics["model"].get("ndcg@10", 0.0) - q.metrics["base"].get("ndcg@10", 0.0) for q in rows]
    return Section(image=plots.win_tie_loss_histogram(diffs, "model", "base", _unit(run)))


def _data_section(run: RunData) -> dict[str, Any]:
    tl = run.token_lengths
    lengths = Section(missing=run.missing.get("token_lengths"))
    if tl is not None and tl.anchors:
        lengths = Section(image=plots.token_length_histograms(tl.anchors, tl.positives, tl.max_seq_length))
        if tl.sampled:
            lengths.facts.append(("token lengths", f"measured on a seeded sample of {tl.n_pairs:,} pairs"))
    stats: list[tuple[str, str]] = []
    findings = []
    doctor_missing = run.missing.get("doctor")
    if run.doctor is not None:
        s = run.doctor.stats
        n = s.get("n_pairs")
        if n is not None:
            stats.append(("training pairs", f"{n:,}"))
        for col in ("anchor", "positive"):
            key = f"n_unique_{col}s"
            if key in s and n:
                stats.append((f"distinct {col}s", f"{s[key]:,} ({n - s[key]:,} repeated rows)"))
            tok = s.get(f"{col}_tokens")
            if tok:
                stats.append((f"{col} tokens p50 / p95 / max",
                              f"{tok['p50']:g} / {tok['p95']:g} / {tok['max']:g} "
                              f"({100 * s.get(f'{col}_truncated_share', 0.0):.1f}% over {s.get('max_seq_length')})"))
        dup = run.doctor.by_code("duplicate_pairs")
        stats.append(("repeated (anchor, positive) rows", f"{dup[0].details.get('n_repeated_rows', 0):,}" if dup else "0"))
        if s.get("eval_splits"):
            stats.append(("checked against eval splits", ", ".join(s["eval_splits"])))
        findings = [{"severity": f.severity, "code": f.code, "message": f.message} for f in run.doctor.findings]
    return {"lengths": lengths, "stats": stats, "findings": findings, "doctor_missing": doctor_missing,
            "has_doctor": run.doctor is not None}


def _headline(run: RunData) -> str:
    """The verdict against the base model in a few words (the full line with CIs follows it)."""
    ev = run.eval
    if ev is not None and ev.generated:
        return "Generated queries only: not evidence that real users' searches improve"
    if ev is None or not ev.comparisons:
        return "No baseline to compare with"
    c = next((c for c in ev.comparisons if c.baseline == "base"), ev.comparisons[0])
    if c.verdict == "better":
        return f"The {c.system} is better than {c.baseline}: {c.mean_diff:+.4f} {c.metric}"
    if c.verdict == "worse":
        return f"The {c.system} is worse than {c.baseline}: {c.mean_diff:+.4f} {c.metric}"
    return f"No detectable difference between the {c.system} and {c.baseline} on {c.metric}"


def _verdict_class(run: RunData) -> str:
    ev = run.eval
    if ev is None or not ev.comparisons or ev.generated:
        return "neutral"
    first = next((c for c in ev.comparisons if c.baseline == "base"), ev.comparisons[0]).verdict
    return {"better": "good", "worse": "bad"}.get(first, "neutral")


def build_report_context(run_dir: Path, run: RunData) -> dict[str, Any]:
    """Everything the single-run template shows, computed from the loaded run."""
    ev = run.eval
    unit = _unit(run)
    context: dict[str, Any] = {
        "title": f"embedtune report: {_run_name(run_dir, run)}",
        "name": _run_name(run_dir, run),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "unit": unit,
        "units": ev.profile.units if ev else "queries",
        "items": ev.profile.items if ev else "documents",
        "eval": ev,
        "verdict_class": _verdict_class(run),
        "headline": _headline(run),
        "learned_nothing": bool(run.train_log and run.train_log.learned_nothing),
        "eval_missing": run.missing.get("eval"),
        "table": _metric_table(run) if ev else None,
        "comparisons": [
            {"label": f"{c.system} − {c.baseline}", "diff": f"{c.mean_diff:+.4f}",
             "ci": f"[{c.ci_low:+.4f}, {c.ci_high:+.4f}]", "wtl": f"{c.wins} / {c.ties} / {c.losses}",
             "verdict": on_generated_queries(c.verdict) if ev.generated else c.verdict, "metric": c.metric,
             "cls": "neutral" if ev.generated else {"better": "good", "worse": "bad"}.get(c.verdict, "neutral")}
            for c in (ev.comparisons if ev else [])
        ],
        "chance": ev.chance if ev else {},
        "fusions": _fusions(ev) if ev else [],
        "slices": _slices(ev) if ev else [],
        "training": _training_section(run),
        "curves": _curves_section(run),
        "wtl": _win_tie_loss_section(run),
        "data": _data_section(run),
        "examples": _examples(run, run.data_dir),
        "examples_missing": None if run.per_query and run.runs else (
            "no per_query.jsonl and runs/*.trec from an evaluation: no example rankings to show."),
        "corpus_missing": run.missing.get("corpus"),
        "example_systems": [s for s in ("base", "model") if s in run.runs] or list(run.runs)[:2],
    }
    return context


def _fusions(ev) -> list[dict[str, str]]:
    """One line per hybrid system: how its parts are fused and where the weights were chosen."""
    out = []
    for name, spec in ev.fusion.items():
        source = ("documented default (no dev queries to choose on)" if spec.default
                  else f"chosen on split {spec.split} ({spec.n_queries} queries, rule {spec.rule})")
        dev = ", ".join(f"{k} {v:.4f}" for k, v in spec.dev_metric.items())
        out.append({"name": name, "text": f"{spec.describe()}, top {spec.depth} of each part; {source}"
                    + (f"; dev {spec.metric}: {dev}" if dev else "")})
    return out


def _slices(ev) -> list[dict[str, Any]]:
    out = []
    systems = list(ev.systems)
    for slice_name, values in ev.slices.items():
        rows = []
        for value, row in values.items():
            rows.append({"value": value, "n": row.get("n_queries", 0),
                         "cells": [_fmt((row.get(s) or {}).get("ndcg@10")) for s in systems]})
        out.append({"name": slice_name, "systems": systems, "rows": rows})
    return out


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("embedtune.report", "templates"),
    autoescape=True,  # every text from the data is escaped; nothing is marked safe
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_report(run_dir: Path, run: RunData) -> str:
    return _ENV.get_template("report.html.j2").render(**build_report_context(run_dir, run))


def write_report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write the HTML report of one run folder (default ``RUN_DIR/report.html``) and return its path."""
    run_dir = Path(run_dir)
    output = Path(output) if output is not None else run_dir / "report.html"
    run = load_run(run_dir)
    write_text_atomic(output, render_report(run_dir, run))
    return output


# ------------------------------------------------------------------------------------------------
# several runs on one page


def _paired_comparisons(runs: list[RunData], names: list[str]) -> tuple[list[dict[str, Any]], str | None]:
    """Each later run's model against the first run's, paired per query when they share the split."""
    from embedtune.eval.bootstrap import compare

    first = runs[0]
    base_scores = {q.query_id: q.metrics.get("model", {}).get("ndcg@10") for q in first.per_query}
    if not base_scores or first.eval is None:
        return [], "the first run has no per-query scores to pair with."
    rows = []
    skipped = []
    for run, name in zip(runs[1:], names[1:], strict=True):
        other = {q.query_id: q.metrics.get("model", {}).get("ndcg@10") for q in run.per_query}
        same_split = run.eval is not None and run.eval.split == first.eval.split and set(other) == set(base_scores)
        if not same_split:
            skipped.append(name)
            continue
        qids = sorted(base_scores)
        c = compare(name, names[0], "ndcg@10", np.array([other[q] for q in qids]),
                    np.array([base_scores[q] for q in qids]))
        rows.append({"label": f"{name} − {names[0]}", "diff": f"{c.mean_diff:+.4f}",
                     "ci": f"[{c.ci_low:+.4f}, {c.ci_high:+.4f}]", "wtl": f"{c.wins} / {c.ties} / {c.losses}",
                     "verdict": c.verdict, "cls": {"better": "good", "worse": "bad"}.get(c.verdict, "neutral")})
    note = (f"not paired with {names[0]} (different split or queries): " + ", ".join(skipped)) if skipped else None
    return rows, note


def _unique_names(runs: list[RunData], run_dirs: list[Path]) -> list[str]:
    names = [_run_name(d, r) for d, r in zip(run_dirs, runs, strict=True)]
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out


def build_comparison_context(run_dirs: list[Path], runs: list[RunData]) -> dict[str, Any]:
    names = _unique_names(runs, run_dirs)
    evaluated = [(n, r) for n, r in zip(names, runs, strict=True) if r.eval is not None]
    # Runs of different kinds have no common columns; the first recommendation run (if any) sets them.
    profile = next((r.eval.profile for _, r in evaluated if r.eval.profile.unit == "user"),
                   evaluated[0][1].eval.profile if evaluated else data_kind(None))
    cols = list(profile.table_columns)
    cols = [c for c in cols if any(c in r.eval.systems.get("model", {}) for _, r in evaluated)]
    rows = []
    for n, r in evaluated:
        ev = r.eval
        vs_base = next((c for c in ev.comparisons if c.baseline == "base"), None)
        rows.append({"name": n, "kind": ev.kind, "split": ev.split, "data": Path(ev.data).name or ev.data,
                     "n": ev.n_queries, "metrics": {c: ev.systems.get("model", {}).get(c) for c in cols},
                     "vs_base": vs_base and {
                         "verdict": vs_base.verdict, "cls": {"better": "good", "worse": "bad"}.get(vs_base.verdict,
                                                                                                  "neutral"),
                         "detail": f"{vs_base.mean_diff:+.4f}, CI [{vs_base.ci_low:+.4f}, {vs_base.ci_high:+.4f}]"}})
    # Numbers on different data or splits are not comparable: only mark a best value when all agree.
    same_data = len({(Path(r.eval.data).resolve(), r.eval.split) for _, r in evaluated}) == 1
    best = {c: max((row["metrics"][c] for row in rows if row["metrics"][c] is not None), default=None) for c in cols}
    for c in cols:
        if all(row["metrics"][c] is not None and abs(row["metrics"][c] - best[c]) <= EPS for row in rows):
            best[c] = None  # everyone ties: no best value
    for row in rows:
        row["cells"] = [{"value": _fmt(row["metrics"][c]),
                         "best": same_data and best[c] is not None and row["metrics"][c] is not None
                         and abs(row["metrics"][c] - best[c]) <= EPS and len(rows) > 1} for c in cols]
    # Baselines of the first evaluated run, for reference on the same split.
    baselines = []
    if evaluated:
        n0, r0 = evaluated[0]
        for sys_name, metrics in r0.eval.systems.items():
            if sys_name != "model":
                baselines.append({"name": sys_name, "of": f"baseline of {n0} ({r0.eval.split} split)",
                                  "cells": [{"value": _fmt(metrics.get(c)), "best": False} for c in cols]})
    paired, paired_note = _paired_comparisons([r for _, r in evaluated], [n for n, _ in evaluated]) \
        if len(evaluated) > 1 else ([], None)

    # Curves: every run's model, plus the first run's baselines (dashed) when the splits agree.
    curves = Section(missing="no run has rankings (runs/*.trec) and per-query judgments.")
    systems: dict[str, dict[str, list[str]]] = {}
    styles: dict[str, dict] = {}
    relevant: dict[str, set[str]] = {}
    if evaluated:
        first = evaluated[0][1]
        relevant = _relevant_sets(first)
        for i, (n, r) in enumerate(evaluated):
            if "model" in r.runs and _relevant_sets(r) == relevant:
                systems[n] = _doc_ids(r, "model")
                styles[n] = {"color": plots.PALETTE[i % len(plots.PALETTE)]}
        for j, s in enumerate(x for x in first.runs if x != "model"):
            systems[f"{s} (baseline)"] = _doc_ids(first, s)
            styles[f"{s} (baseline)"] = {"color": "#777", "ls": ("--", ":", "-.")[j % 3], "lw": 1.3}
        if relevant and systems:
            curves = Section(image=plots.metric_curves(systems, relevant, styles=styles))

    training = Section(missing="none of these folders is a training run.")
    losses = {n: (r.train_log.loss_steps, r.train_log.losses) for n, r in zip(names, runs, strict=True)
              if r.train_log and r.train_log.losses}
    dev = {}
    for n, r in zip(names, runs, strict=True):
        if r.train_log:
            pts = [(h["epoch"], h["cosine_ndcg@10"]) for h in r.train_log.dev_history if "cosine_ndcg@10" in h]
            if pts:
                dev[n] = ([p[0] for p in pts], [p[1] for p in pts])
    if losses:
        chances = {r.train_log.chance_loss for r in runs if r.train_log and r.train_log.chance_loss is not None}
        chance = chances.pop() if len(chances) == 1 else None
        training = Section(image=plots.loss_plot(losses, chance, dev, "ndcg@10"))
        if chance is None and len({r.train_log.chance_loss for r in runs if r.train_log}) > 1:
            training.facts.append(("chance line", "not drawn: the runs differ in batch size"))

    missing = [(n, "no eval.json: not evaluated") for n, r in zip(names, runs, strict=True) if r.eval is None]
    return {
        "title": "embedtune comparison: " + ", ".join(names),
        "names": names,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "columns": cols,
        "rows": rows,
        "same_data": same_data or len(rows) < 2,
        "baselines": baselines,
        "paired": paired,
        "paired_note": paired_note,
        "curves": curves,
        "training": training,
        "missing": missing,
        "unit": profile.unit,
        "units": profile.units,
    }


def write_comparison(run_dirs: list[str | Path], output: str | Path) -> Path:
    """Write one HTML page comparing several run folders (e.g. two recipes on the same split)."""
    run_dirs = [Path(d) for d in run_dirs]
    if len(run_dirs) < 2:
        raise EmbedtuneError("compare needs at least two run folders")
    runs = [load_run(d, with_token_lengths=False) for d in run_dirs]
    html = _ENV.get_template("compare.html.j2").render(**build_comparison_context(run_dirs, runs))
    output = Path(output)
    write_text_atomic(output, html)
    return output
