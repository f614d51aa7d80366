"""Hybrid dense ⊕ BM25: how NDCG@10 moves with the fusion weight, and whether weights chosen on dev transfer.

``curve``: one model and BM25 on one split; NDCG@10 of the weighted sum at dense weight 0.0–1.0 for
both per-query normalisations, and of RRF at k = 10–100 (the grid ``ranx.optimize_fusion`` searches).

``transfer``: choose the fusion on one split (``--dev-data``/``--dev-split``, e.g. a site DATA_DIR's
generated dev queries) under each rule of :func:`embedtune.fusion.choose_fusion` — ``tuned``,
``default`` (the documented default, no choice), ``shrunk`` (tuned, moved halfway to the default) —
and score each choice on another split of real queries (``--test-data``/``--test-split``), with the
paired bootstrap against the default. The test split never influences a choice; it only shows which
rule transfers. Both curves are printed, so the dev optimum can be read against the test optimum.

    HF_HUB_OFFLINE=1 /work/heavy .venv/bin/python bench/hybrid.py curve --model all-MiniLM-L6-v2 \\
        --data src/embedtune/examples/helpcenter --split dev
    HF_HUB_OFFLINE=1 /work/heavy .venv/bin/python bench/hybrid.py transfer --model all-MiniLM-L6-v2 \\
        --dev-data bench/data/hybrid/site --dev-split dev --test-data bench/data/hybrid/site --test-split test

Results: ``bench/out/hybrid/<name>.json``; figures in docs/benchmarks.md ("Hybrid").
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

OUT = Path(__file__).resolve().parent / "out" / "hybrid"
WEIGHTS = [round(0.1 * i, 1) for i in range(11)]
RRF_KS = list(range(10, 101, 10))


def split_runs(model: str, data: Path, split: str) -> tuple[dict, dict, dict]:
    """``({"model": run, "bm25": run}, qrels, per-system seconds)`` at the evaluation's depth."""
    from embedtune.data.beir import load_retrieval_split
    from embedtune.eval.evaluate import RUN_DEPTH
    from embedtune.eval.systems import BM25System, DenseSystem

    ret = load_retrieval_split(data, split)
    runs, seconds = {}, {}
    for name, system in (("model", DenseSystem("model", model)), ("bm25", BM25System())):
        started = time.perf_counter()
        runs[name] = system.rank(ret, RUN_DEPTH)
        seconds[name] = round(time.perf_counter() - started, 1)
    qrels = {q: {d: g for d, g in ret.qrels[q].items()} for q in ret.query_ids}
    return runs, qrels, seconds


def per_query(run: dict, qrels: dict) -> list[float]:
    from embedtune.metrics import compute_metrics

    return [compute_metrics([d for d, _ in run.get(q, [])], {d for d, g in judged.items() if g > 0})["ndcg@10"]
            for q, judged in qrels.items()]


def curve(runs: dict, qrels: dict) -> dict:
    """NDCG@10 of every configuration on the weight / k grid, and of each part alone."""
    import numpy as np

    from embedtune.fusion import FusionSpec, fuse_runs

    out: dict = {"parts": {p: float(np.mean(per_query(r, qrels))) for p, r in runs.items()}}
    for norm in ("zmuv", "min-max"):
        out[norm] = {}
        for w in WEIGHTS[1:-1]:
            spec = FusionSpec(method="wsum", norm=norm, weights={"model": w, "bm25": round(1 - w, 1)})
            out[norm][str(w)] = float(np.mean(per_query(fuse_runs(spec, runs), qrels)))
    out["rrf"] = {}
    for k in RRF_KS:
        spec = FusionSpec(method="rrf", norm=None, rrf_k=k, weights={"model": 1.0, "bm25": 1.0})
        out["rrf"][str(k)] = float(np.mean(per_query(fuse_runs(spec, runs), qrels)))
    return out


def print_curve(title: str, c: dict) -> None:
    print(f"\n{title}: " + ", ".join(f"{p} {v:.4f}" for p, v in c["parts"].items()))
    print("| dense weight | " + " | ".join(str(w) for w in WEIGHTS[1:-1]) + " |")
    print("|---|" + "---:|" * (len(WEIGHTS) - 2))
    for norm in ("zmuv", "min-max"):
        print(f"| {norm} | " + " | ".join(f"{c[norm][str(w)]:.4f}" for w in WEIGHTS[1:-1]) + " |")
    print("RRF k=" + ", ".join(f"{k}: {v:.4f}" for k, v in c["rrf"].items()))


def cmd_curve(args) -> None:
    runs, qrels, seconds = split_runs(args.model, args.data, args.split)
    result = {"model": args.model, "data": str(args.data), "split": args.split, "n_queries": len(qrels),
              "curve": curve(runs, qrels), "seconds": seconds}
    print_curve(f"{args.data} {args.split} ({len(qrels)} queries)", result["curve"])
    save(args.name or f"curve-{Path(args.data).name}-{args.split}", result)


def cmd_transfer(args) -> None:
    import numpy as np

    from embedtune.eval.bootstrap import compare
    from embedtune.fusion import choose_fusion, fuse_runs

    dev_runs, dev_qrels, _ = split_runs(args.model, args.dev_data, args.dev_split)
    test_runs, test_qrels, _ = split_runs(args.model, args.test_data, args.test_split)
    chosen = {
        "tuned": choose_fusion(dev_runs, dev_qrels, split=args.dev_split, data=str(args.dev_data)),
        "default": choose_fusion(dev_runs, dev_qrels, split=args.dev_split, rule="default"),
        "shrunk": choose_fusion(dev_runs, dev_qrels, split=args.dev_split, rule="shrunk"),
    }
    default_scores = np.array(per_query(fuse_runs(chosen["default"], test_runs), test_qrels))
    rows = {}
    for rule, spec in chosen.items():
        scores = np.array(per_query(fuse_runs(spec, test_runs), test_qrels))
        c = compare(rule, "default", "ndcg@10", scores, default_scores)
        rows[rule] = {"spec": spec.describe(), "dev": spec.dev_metric["hybrid"], "test": float(scores.mean()),
                      "vs_default": {"diff": c.mean_diff, "ci": [c.ci_low, c.ci_high], "verdict": c.verdict}}
    result = {
        "model": args.model, "dev": f"{args.dev_data}:{args.dev_split}", "test": f"{args.test_data}:{args.test_split}",
        "n_dev": len(dev_qrels), "n_test": len(test_qrels), "rules": rows,
        "dev_curve": curve(dev_runs, dev_qrels), "test_curve": curve(test_runs, test_qrels),
    }
    print_curve(f"dev {result['dev']} ({len(dev_qrels)} queries)", result["dev_curve"])
    print_curve(f"test {result['test']} ({len(test_qrels)} queries)", result["test_curve"])
    print("\n| rule | chosen on dev | dev NDCG@10 | test NDCG@10 | test − default, 95% CI |")
    print("|---|---|---:|---:|---|")
    for rule, row in rows.items():
        v = row["vs_default"]
        print(f"| {rule} | {row['spec']} | {row['dev']:.4f} | {row['test']:.4f} | "
              f"{v['diff']:+.4f} [{v['ci'][0]:+.4f}, {v['ci'][1]:+.4f}] {v['verdict']} |")
    save(args.name or f"transfer-{Path(args.dev_data).name}-{Path(args.test_data).name}", result)


def save(name: str, result: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("curve", help="NDCG@10 over the fusion grid on one split")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--split", default="dev")
    p.add_argument("--name")
    p.set_defaults(func=cmd_curve)
    p = sub.add_parser("transfer", help="choose on one split, score on another")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--dev-data", type=Path, required=True)
    p.add_argument("--dev-split", default="dev")
    p.add_argument("--test-data", type=Path, required=True)
    p.add_argument("--test-split", default="test")
    p.add_argument("--name")
    p.set_defaults(func=cmd_transfer)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
