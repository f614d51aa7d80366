"""Where a fine-tune's change lands, seen from BM25: why a dense gain does or does not survive fusion.

Reads one ``embedtune eval`` output folder (``per_query.jsonl`` and ``runs/*.trec``; it needs the
systems ``model``, ``base``, ``bm25``, ``hybrid`` and ``base_hybrid``) and splits its queries by which of
the base model and BM25 ranked them better. For each group it prints the fine-tune's change over base
(``model − base``) and what is left of it once fused (``hybrid − base_hybrid``), each with its paired-bootstrap
95% CI (``embedtune.eval.bootstrap.compare``, 10,000 resamples, seed 0). Then two measures of how much the
dense part and BM25 still complement each other: the top-10 overlap of each dense run with BM25's (ranx
runs read from the trec files), and the per-query best of the two parts (an oracle that picks, per query,
whichever of dense and BM25 scored higher — how much a fusion could take from each side).

A fine-tune that learns only what BM25 already knows gains on the queries where BM25 beats base, loses
where base beat BM25, and leaves the oracle where it was: fusion with BM25 then has nothing new to use.

    .venv/bin/python bench/hybrid_why.py bench/out/gpu/eval-test
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from ranx import Run

from embedtune.eval.bootstrap import compare
from embedtune.report.load import read_per_query

SYSTEMS = ("model", "base", "bm25", "hybrid", "base_hybrid")


def top_k(run: Run, k: int) -> dict[str, set[str]]:
    return {q: set(sorted(docs, key=docs.get, reverse=True)[:k]) for q, docs in run.to_dict().items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("eval_dir", type=Path, help="an `embedtune eval` output folder of retrieval data with hybrid rows")
    ap.add_argument("--metric", default="ndcg@10")
    ap.add_argument("--k", type=int, default=10, help="depth of the top-k overlap (default 10)")
    args = ap.parse_args(argv)

    rows = read_per_query(args.eval_dir / "per_query.jsonl")
    missing = [s for s in SYSTEMS if any(s not in r.metrics for r in rows)]
    if missing:
        print(f"error: {args.eval_dir / 'per_query.jsonl'}: no {', '.join(missing)} scores "
              "(evaluate retrieval data with the hybrid on)", file=sys.stderr)
        return 2
    score = {s: np.array([r.metrics[s][args.metric] for r in rows]) for s in SYSTEMS}
    base, bm25 = score["base"], score["bm25"]
    groups = {"all": np.ones_like(base, dtype=bool), "BM25 above base": bm25 > base,
              "base above BM25": base > bm25, "tied": base == bm25}

    print(f"{args.eval_dir}: {len(rows)} queries, {args.metric}")
    print("| queries | n | base | BM25 | model − base, 95% CI | hybrid − base_hybrid, 95% CI |")
    print("|---|---:|---:|---:|---|---|")
    for name, mask in groups.items():
        if not mask.any():
            continue
        dense = compare("model", "base", args.metric, score["model"][mask], base[mask])
        fused = compare("hybrid", "base_hybrid", args.metric, score["hybrid"][mask], score["base_hybrid"][mask])
        print(f"| {name} | {int(mask.sum())} | {base[mask].mean():.4f} | {bm25[mask].mean():.4f} | "
              f"{dense.mean_diff:+.4f} [{dense.ci_low:+.4f}, {dense.ci_high:+.4f}] | "
              f"{fused.mean_diff:+.4f} [{fused.ci_low:+.4f}, {fused.ci_high:+.4f}] |")

    runs = {s: top_k(Run.from_file(str(args.eval_dir / "runs" / f"{s}.trec"), kind="trec"), args.k)
            for s in ("model", "base", "bm25")}
    ids = [r.query_id for r in rows]
    for s in ("base", "model"):
        overlap = np.mean([len(runs[s].get(q, set()) & runs["bm25"].get(q, set())) / args.k for q in ids])
        oracle = np.maximum(score[s], bm25).mean()
        print(f"{s}: top-{args.k} overlap with BM25 {overlap:.4f}; per-query best of {s} and BM25 {oracle:.4f}; "
              f"correlation of per-query {args.metric} with BM25's {np.corrcoef(score[s], bm25)[0, 1]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
