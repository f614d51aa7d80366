"""Benchmark (DEV split only): the product's recommendation fusion with and without its cold part, across dev users.

``embedtune eval`` chooses the hybrid on all dev users: the five parts and a sixth, ``cold`` (the text tower's
ranking of cold items), weighted as the best overall among the weightings that keep the tower's own NDCG@10 on the
dev users whose target is cold (``embedtune.eval.hybrid._choose_keeping_cold``). This script makes exactly that
choice — and the plain five-part one (:func:`embedtune.fusion.choose_fusion`) beside it — on each training fold
of a K-fold split of the dev users (``recsys_fusion_cv.cv_splits``) and scores the held-out fold with
:func:`embedtune.fusion.fuse_runs` (the function evaluation and serving use); printed: in-sample (all dev users)
and cross-validated NDCG@10 overall, on cold targets (the DATA_DIR's ``target_popularity`` slice) and on warm
ones. The test split is never read::

    OMP_NUM_THREADS=1 .venv/bin/python bench/recsys_cold_part_dev.py --data bench/out/shop0/data \\
        --model bench/out/shop0/model --out bench/out/shop0/cold-part-dev.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from recsys_fusion_cv import cv_splits  # bench/ is on sys.path when a bench script runs

from embedtune.data.beir import load_retrieval_split
from embedtune.data.kinds import RECSYS
from embedtune.dense import DenseSystem
from embedtune.eval.evaluate import RUN_DEPTH, _read_slices
from embedtune.eval.hybrid import _choose_keeping_cold, cold_items, default_fusion
from embedtune.fusion import choose_fusion, fuse_runs
from embedtune.metrics import MetricSpec, per_query_metrics
from embedtune.recsys.baselines import recsys_baselines

METRIC = "ndcg@10"


def per_user(run, qrels, qids: list[str]) -> np.ndarray:
    spec = MetricSpec(ndcg_at=(10,))
    relevant = {q: {d for d, g in qrels[q].items() if g > 0} for q in qids}
    scores = per_query_metrics({q: [d for d, _ in run.get(q, [])] for q in qids}, relevant, spec)
    return np.array([scores[q][METRIC] for q in qids])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--share", type=float, default=1.0, help="keep_cold: the share of the tower's cold score to keep")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    dev = load_retrieval_split(args.data, "dev")
    qids = dev.query_ids
    qrels = {q: dev.qrels[q] for q in qids}
    runs = {"model": DenseSystem("model", args.model).rank(dev, RUN_DEPTH)}
    runs.update({s.name: s.rank(dev, RUN_DEPTH) for s in recsys_baselines(args.data, dev) if s.name in RECSYS.hybrid_with})
    runs = {p: runs[p] for p in ("model", *RECSYS.hybrid_with)}
    cold, max_events = cold_items(args.data, list(dev.corpus))
    cold_ids = set(_read_slices(args.data, dev).get("target_popularity", {}).get("cold", []))
    is_cold = np.array([q in cold_ids for q in qids])
    default = default_fusion(RECSYS.hybrid_with)

    def choose(users: list[str]):
        sub = {q: qrels[q] for q in users}
        spec = choose_fusion(runs, sub, split="dev", data=str(args.data), norms=RECSYS.fusion_norms, default=default)
        return spec, _choose_keeping_cold(runs, sub, "model", (cold, max_events), args.data, RUN_DEPTH,
                                          RECSYS.fusion_norms, default, args.share)

    def scored(spec, users: list[str]) -> np.ndarray:
        return per_user(fuse_runs(spec, {p: {q: runs[p][q] for q in users} for p in runs}, cold=cold), qrels, users)

    tower = per_user(runs["model"], qrels, qids)
    print(f"{len(qids)} dev users ({is_cold.sum()} cold targets, {len(cold)} cold items); tower alone "
          f"{tower.mean():.4f}, cold {tower[is_cold].mean():.4f}", flush=True)
    results = {"dev_users": len(qids), "cold_users": int(is_cold.sum()), "tower": [float(tower.mean()),
                                                                                    float(tower[is_cold].mean())]}
    plain, with_cold = choose(qids)
    held = {"weights": np.zeros((args.repeats, len(qids))), "with cold part": np.zeros((args.repeats, len(qids)))}
    chosen = []
    for seed, train, test in cv_splits(len(qids), args.folds, args.repeats):
        a, b = choose([qids[i] for i in train])
        users = [qids[i] for i in test]
        held["weights"][seed, test] = scored(a, users)
        held["with cold part"][seed, test] = scored(b, users)
        chosen.append(b.describe())
    print("| fusion | in-sample all / cold / warm | cross-validated all / cold / warm | chosen on all dev users |")
    print("|---|---:|---:|---|")
    for name, spec in (("weights", plain), ("with cold part", with_cold)):
        ins = scored(spec, qids)
        cv = held[name]
        row = {"in_sample": [float(ins.mean()), float(ins[is_cold].mean()), float(ins[~is_cold].mean())],
               "cv": [float(cv.mean()), float(cv[:, is_cold].mean()), float(cv[:, ~is_cold].mean())],
               "config": spec.describe()}
        results[name] = row
        print(f"| {name} | {' / '.join(f'{x:.4f}' for x in row['in_sample'])} | "
              f"{' / '.join(f'{x:.4f}' for x in row['cv'])} | {row['config']} |", flush=True)
    results["fold_choices"] = chosen
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
