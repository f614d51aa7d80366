"""Benchmark (DEV split only): does the recommendation hybrid keep the text tower's cold targets?

For every 0.1-step weighting of the four parts (model, cooccurrence, transitions, popularity; their dev
runs at depth 100, history excluded, exactly as ``embedtune eval`` ranks them) and each normalisation
(per-user min-max or z-score over each part's top 100; an item a part does not list scores 0 after
normalisation, ranx's convention: the part's minimum for min-max, its mean for z-score), it fuses with
and without outright abstention — a statistics part that has no (or at most 5) training events for an
item does not vote on it, and the item's score is renormalised over the weights of the parts that do —
and prints the best configuration's dev NDCG@10 overall, on cold targets (the DATA_DIR's
``target_popularity`` slice) and on warm ones. A rank counts only strictly higher scores. The test split
is never read::

    OMP_NUM_THREADS=1 .venv/bin/python bench/recsys_cold_dev.py --data bench/out/shop/data --model bench/out/shop/model
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import duckdb
import numpy as np

from embedtune.data.beir import load_retrieval_split
from embedtune.dense import DenseSystem
from embedtune.eval.evaluate import _read_slices
from embedtune.recsys.baselines import recsys_baselines
from embedtune.recsys.sql import literal

PARTS = ("model", "cooccurrence", "transitions", "popularity")


def dev_part_runs(data: Path, model: str, depth: int):
    """The dev split, its item ids, their column numbers, the query ids, and each part's top-``depth`` run."""
    dev = load_retrieval_split(data, "dev")
    doc_ids = list(dev.corpus)
    col = {d: i for i, d in enumerate(doc_ids)}
    runs = {"model": DenseSystem("model", model).rank(dev, depth)}
    runs.update({s.name: s.rank(dev, depth) for s in recsys_baselines(data, dev)})
    return dev, doc_ids, col, dev.query_ids, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    dev, doc_ids, col, qids, runs = dev_part_runs(args.data, args.model, 100)
    events = dict(duckdb.sql(f"SELECT item_id, count(*) FROM read_parquet({literal(args.data / 'interactions.parquet')}) "
                             "WHERE split = 'train' GROUP BY item_id").fetchall())
    counts = np.array([events.get(d, 0) for d in doc_ids])
    cold_users = set(_read_slices(args.data, dev).get("target_popularity", {}).get("cold", []))
    target = np.array([col[next(iter(dev.relevant(q)))] for q in qids])
    is_cold = np.array([q in cold_users for q in qids])
    print(f"{len(qids)} dev users, {is_cold.sum()} cold targets; items never seen in training {np.sum(counts == 0)}, "
          f"with 1-5 events {np.sum((counts > 0) & (counts <= 5))}")

    def normalised(run, norm: str) -> tuple[np.ndarray, np.ndarray]:
        scores = np.zeros((len(qids), len(doc_ids)))
        listed = np.zeros_like(scores, dtype=bool)
        for r, q in enumerate(qids):
            ranked = run[q][:100]
            s = np.array([x for _, x in ranked])
            z = (s - s.min()) / max(s.max() - s.min(), 1e-9) if norm == "min-max" else (s - s.mean()) / max(s.std(), 1e-9)
            for (d, _), v in zip(ranked, z, strict=True):
                scores[r, col[d]] = v
                listed[r, col[d]] = True
        return scores, listed

    def ndcg(fused: np.ndarray, candidates: np.ndarray) -> tuple[float, float, float]:
        s = np.where(candidates, fused, -np.inf)
        at = s[np.arange(len(qids)), target]
        rank = (s > at[:, None]).sum(1) + 1
        per = np.where(np.isfinite(at) & (rank <= 10), 1 / np.log2(rank + 1), 0.0)
        return float(per.mean()), float(per[is_cold].mean()), float(per[~is_cold].mean())

    grid = [w for w in itertools.product(np.round(np.arange(0, 1.01, 0.1), 1), repeat=len(PARTS))
            if abs(sum(w) - 1) < 1e-9]
    for norm in ("min-max", "zmuv"):
        mats = {p: normalised(runs[p], norm) for p in PARTS}
        candidates = np.any([mats[p][1] for p in PARTS], axis=0)
        for label, known_from in (("no abstention", None), ("abstain: never seen", 1), ("abstain: <= 5 events", 6)):
            best = None
            for w in grid:
                fused = sum(wp * mats[p][0] for wp, p in zip(w, PARTS, strict=True))
                if known_from is not None:
                    voting = w[0] + sum(w[1:]) * (counts >= known_from)  # the model knows every item
                    fused = np.where(voting[None, :] > 0, fused / np.maximum(voting[None, :], 1e-12), -1e9)
                score = ndcg(fused, candidates)
                if best is None or score[0] > best[0][0] + 1e-12:
                    best = (score, w)
            (overall, cold, warm), w = best
            print(f"{norm:8s} {label:22s} dev ndcg@10 {overall:.4f}  cold {cold:.4f}  warm {warm:.4f}  "
                  f"weights {dict(zip(PARTS, map(float, w), strict=True))}", flush=True)


if __name__ == "__main__":
    main()
