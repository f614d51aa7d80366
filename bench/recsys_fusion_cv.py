"""Benchmark (DEV split only): does the recommendation hybrid's weight grid overfit the dev users?

``embedtune eval`` picks the best of ranx's 0.1-step weight grid (z-score per user, each part's top 100,
history excluded) on all dev users and applies it to test; the dev score of that pick is optimistic. This
script estimates what the pick is worth on users it was not chosen on: K-fold cross-validation across dev
users (choose on K−1 folds, score the held-out fold; repeated over several shuffles), for every subset of
parts that contains the model, beside fixed weights chosen in advance. The fusion is ranx's ``wsum`` over
``zmuv`` scores reproduced in numpy (an item a part does not list scores 0 there: the part abstains); a rank
counts only strictly higher scores. The test split is never read::

    OMP_NUM_THREADS=1 .venv/bin/python bench/recsys_fusion_cv.py --data bench/out/shop/data \
        --model bench/out/shop/model --out bench/out/shop/fusion-cv.json
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
from recsys_cold_dev import dev_part_runs  # bench/ is on sys.path when a bench script runs

from embedtune.data.kinds import RECSYS
from embedtune.eval.evaluate import RUN_DEPTH, _read_slices

PARTS = ("model", *RECSYS.hybrid_with)


def zscored(run, qids: list[str], col: dict[str, int], n_items: int, depth: int = RUN_DEPTH) -> np.ndarray:
    """[user, item]: the part's z-scored top-``depth`` scores, 0 where it does not list the item."""
    out = np.zeros((len(qids), n_items))
    for r, q in enumerate(qids):
        ranked = run.get(q, [])[:depth]
        if not ranked:
            continue
        s = np.array([x for _, x in ranked])
        z = (s - s.mean()) / s.std() if s.std() > 0 else np.zeros_like(s)
        out[r, [col[d] for d, _ in ranked]] = z
    return out


def per_user_ndcg(fused: np.ndarray, listed: np.ndarray, target: np.ndarray) -> np.ndarray:
    s = np.where(listed, fused, -np.inf)
    at = s[np.arange(len(target)), target]
    rank = (s > at[:, None]).sum(1) + 1
    return np.where(np.isfinite(at) & (rank <= 10), 1 / np.log2(rank + 1), 0.0)


def grid(n: int) -> list[tuple[float, ...]]:
    steps = np.round(np.arange(0, 1.01, 0.1), 1)
    return [w for w in itertools.product(steps, repeat=n) if abs(sum(w) - 1) < 1e-9]


def cv_splits(n: int, folds: int, repeats: int):
    """(shuffle, train users, held-out users) of ``folds``-fold cross-validation over ``n`` users, ``repeats``
    times; shuffle ``s`` uses seed ``s``, so every caller splits users alike."""
    for seed in range(repeats):
        order = np.random.default_rng(seed).permutation(n)
        for f in range(folds):
            test = order[f::folds]
            yield seed, np.setdiff1d(order, test), test


def held_out(scores: np.ndarray, folds: int, repeats: int) -> np.ndarray:
    """[shuffle, user]: each user's NDCG@10 under the configuration that was best on the other folds
    (``scores``: [config, user]; folds from :func:`cv_splits`)."""
    out = np.zeros((repeats, scores.shape[1]))
    for seed, train, test in cv_splits(scores.shape[1], folds, repeats):
        out[seed, test] = scores[int(np.argmax(scores[:, train].mean(1))), test]
    return out


def cross_validated(scores: np.ndarray, folds: int, repeats: int) -> tuple[float, float]:
    """Mean held-out NDCG@10 of the in-fold best configuration (``scores``: [config, user]); and its spread."""
    means = held_out(scores, folds, repeats).mean(1)
    return float(np.mean(means)), float(np.std(means))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--depth", type=int, default=RUN_DEPTH, help="candidates per part (eval: %(default)s)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    dev, docs, col, qids, runs = dev_part_runs(args.data, args.model, args.depth)
    z = {p: zscored(runs[p], qids, col, len(docs), args.depth) for p in PARTS}
    listed = np.zeros((len(qids), len(docs)), dtype=bool)
    for p in PARTS:
        for r, q in enumerate(qids):
            listed[r, [col[d] for d, _ in runs[p].get(q, [])[:args.depth]]] = True
    target = np.array([col[next(iter(dev.relevant(q)))] for q in qids])
    cold = set(_read_slices(args.data, dev).get("target_popularity", {}).get("cold", []))
    is_cold = np.array([q in cold for q in qids])

    results = {}
    print(f"{len(qids)} dev users ({is_cold.sum()} cold targets); {args.folds}-fold CV over users, {args.repeats} shuffles")
    print("| parts | in-sample best (weights) | cross-validated | cold / warm of in-sample best |\n|---|---:|---:|---:|")
    for n in range(1, len(PARTS)):
        for others in itertools.combinations(PARTS[1:], n):
            parts = ("model", *others)
            configs = grid(len(parts))
            scores = np.stack([per_user_ndcg(sum(w * z[p] for w, p in zip(ws, parts, strict=True)), listed, target)
                               for ws in configs])
            best = int(np.argmax(scores.mean(1)))
            cv, spread = cross_validated(scores, args.folds, args.repeats)
            weights = dict(zip(parts, map(float, configs[best]), strict=True))
            row = {"in_sample": float(scores[best].mean()), "weights": weights, "cv": cv, "cv_spread": spread,
                   "cold": float(scores[best][is_cold].mean()), "warm": float(scores[best][~is_cold].mean())}
            results[" + ".join(parts)] = row
            print(f"| {' + '.join(parts)} | {row['in_sample']:.4f} ({', '.join(f'{k} {v:g}' for k, v in weights.items())}) "
                  f"| {cv:.4f} ± {spread:.4f} | {row['cold']:.4f} / {row['warm']:.4f} |", flush=True)
    for p in PARTS:
        alone = per_user_ndcg(z[p], listed, target)
        results[p] = {"in_sample": float(alone.mean())}
        print(f"| {p} alone | {alone.mean():.4f} | — | {alone[is_cold].mean():.4f} / {alone[~is_cold].mean():.4f} |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
