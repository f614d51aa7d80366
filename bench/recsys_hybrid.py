"""Benchmark: ways to fuse a text tower with co-occurrence, transitions and popularity, on the DEV split only.

What ``embedtune eval`` chooses for recommendation data (per-user z-score weighted sum of the model,
co-occurrence, transitions and popularity, weights tuned on dev by ranx) next to the alternatives it
could have chosen: the documented default (equal z-score weights of the model and co-occurrence, fixed
in advance), reciprocal rank fusion, min-max and both normalisations, the tuned fusion without transitions (what ``eval`` fused before
transitions existed), without popularity, and without the model. Each part ranks the dev users' second-to-last item with the history
before it excluded (top 100 each), exactly as the evaluation does; the test split is never read, so
this may be run as often as needed before the one test evaluation::

    nice -n 10 .venv/bin/python bench/recsys_hybrid.py --model bench/out/ml100k-u20/model \
        --data bench/out/ml100k-u20/data --out bench/out/ml100k-u20/hybrid-dev.json

Prints a Markdown table (dev NDCG@10, Recall@10, Recall@50 and NDCG@10 per slice) and writes it as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from embedtune.base_model import DEFAULT_BASE_MODEL
from embedtune.data.beir import load_retrieval_split
from embedtune.dense import DenseSystem
from embedtune.eval.evaluate import RUN_DEPTH, _read_slices
from embedtune.eval.hybrid import DEV_SPLIT, default_fusion
from embedtune.fusion import FusionSpec, choose_fusion, fuse_runs
from embedtune.metrics import mean_metrics, per_query_metrics
from embedtune.recsys.baselines import recsys_baselines

METRICS = ("ndcg@10", "recall@10", "recall@50")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--depths", default=str(RUN_DEPTH),
                        help="comma-separated candidates per part to fuse (the first is the evaluation's), e.g. 100,300,1000")
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]

    dev = load_retrieval_split(args.data, DEV_SPLIT)
    relevant = {q: dev.relevant(q) for q in dev.query_ids}
    qrels = {q: dev.qrels[q] for q in dev.query_ids}
    from embedtune.data.kinds import data_kind

    spec = data_kind(dev.kind).metrics
    if "transitions" not in data_kind(dev.kind).hybrid_with:
        raise SystemExit(f"{args.data} is not recommendation data")
    started = time.perf_counter()
    deepest = max(depths)
    runs = {"model": DenseSystem("model", args.model).rank(dev, deepest),
            "base": DenseSystem("base", args.base_model).rank(dev, deepest)}
    runs.update({s.name: s.rank(dev, deepest) for s in recsys_baselines(args.data, dev)})
    rank_seconds = time.perf_counter() - started

    others = data_kind(dev.kind).hybrid_with
    norms = data_kind(dev.kind).fusion_norms
    parts = {p: runs[p] for p in ("model", *others)}
    default = default_fusion(others)

    def tuned(names: tuple[str, ...]) -> FusionSpec:
        return choose_fusion({p: runs[p] for p in names}, qrels, split=DEV_SPLIT, depth=depths[0], norms=norms,
                             default=default_fusion(tuple(p for p in names if p != "model")))

    started = time.perf_counter()
    fusions: dict[str, FusionSpec] = {
        "tuned (embedtune eval)": choose_fusion(parts, qrels, split=DEV_SPLIT, default=default, depth=depths[0],
                                                norms=norms),
        "documented default": choose_fusion(parts, qrels, split=DEV_SPLIT, default=default, rule="default"),
        "rrf (k tuned)": choose_fusion(parts, qrels, split=DEV_SPLIT, default=default, methods=("rrf",)),
        "tuned, z-score or min-max": choose_fusion(parts, qrels, split=DEV_SPLIT, default=default),
        "tuned, min-max only": choose_fusion(parts, qrels, split=DEV_SPLIT, default=default, norms=("min-max",)),
        "tuned, no transitions": tuned(("model", "cooccurrence", "popularity")),
        "tuned, no popularity": tuned(("model", "cooccurrence", "transitions")),
        "tuned, no model (cooccurrence ⊕ transitions ⊕ popularity)": choose_fusion(
            {p: runs[p] for p in others}, qrels, split=DEV_SPLIT, depth=depths[0], norms=norms),
        "base ⊕ the same, tuned": choose_fusion(
            {p: runs[p] for p in ("base", *others)}, qrels, split=DEV_SPLIT, norms=norms,
            default=default.renamed({"model": "base"})),
    }
    fusions.update({f"tuned, depth {d}": choose_fusion(parts, qrels, split=DEV_SPLIT, default=default, depth=d,
                                                       norms=norms)
                    for d in depths[1:]})
    choose_seconds = time.perf_counter() - started
    rows = {name: {q: ranked[:RUN_DEPTH] for q, ranked in runs[name].items()}
            for name in ("model", "base", *others)}
    rows.update({f"hybrid: {name}": fuse_runs(f, runs, k=RUN_DEPTH) for name, f in fusions.items()})

    slices = _read_slices(args.data, dev)
    table = {}
    for name, run in rows.items():
        per_query = per_query_metrics({q: [d for d, _ in run.get(q, [])] for q in dev.query_ids}, relevant, spec)
        means = mean_metrics(per_query)
        by_slice = {f"{s}={v}": sum(per_query[q]["ndcg@10"] for q in qids) / len(qids)
                    for s, values in slices.items() for v, qids in sorted(values.items()) if qids}
        table[name] = {**{m: means[m] for m in METRICS}, "slices": by_slice}
    slice_names = list(next(iter(table.values()))["slices"])
    print(f"\n{args.data}: dev split, {len(dev.query_ids)} users, {len(dev.corpus)} items, history excluded\n")
    print("| system | " + " | ".join(METRICS) + " | " + " | ".join(f"ndcg@10 {s}" for s in slice_names) + " |")
    print("|---|" + "---:|" * (len(METRICS) + len(slice_names)))
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{row[m]:.4f}" for m in METRICS) + " | "
              + " | ".join(f"{row['slices'][s]:.4f}" for s in slice_names) + " |")
    print()
    for name, f in fusions.items():
        print(f"- {name}: {f.describe()} ({f.note})")
    print(f"\nranking the dev split: {rank_seconds:.1f} s; choosing the {len(fusions)} fusions: {choose_seconds:.1f} s")
    if args.out is not None:
        args.out.write_text(json.dumps({"table": table, "fusions": {k: v.model_dump() for k, v in fusions.items()},
                                        "seconds": {"rank": rank_seconds, "choose": choose_seconds}}, indent=2))


if __name__ == "__main__":
    main()
