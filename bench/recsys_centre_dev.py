"""Benchmark (DEV split only): does centring the user vectors recover a logQ-corrected tower's cold items?

A tower trained with the logQ correction (the default for recommendation data) learns each item's popularity
into its scores, and ranks the cold items (≤ 5 training events) low even against each other. Its score
``u·v`` has a part every user shares, ``ū·v`` (ū: the mean profile vector); ``(u − λ·ū)·v`` removes λ of it and
keeps the user-specific part. For each tower and λ ∈ {0, 0.5, 1} (ū from the dev profiles or from the training
profiles) this prints the dev users' NDCG@10 overall, on cold and warm targets, and — what a cold slot or cold
part needs — the cold targets' NDCG@10 and median rank among the cold items only. History excluded; a rank counts
only strictly higher scores; the test split is never read::

    OMP_NUM_THREADS=1 .venv/bin/python bench/recsys_centre_dev.py --data bench/out/shop0/data \\
        --model bench/out/shop0/model-logqon --model bench/out/shop0/model-logqoff
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import numpy as np
from recsys_cold_rule_dev import tower_vectors  # bench/ is on sys.path when a bench script runs

from embedtune.data.beir import load_retrieval_split
from embedtune.eval.evaluate import _read_slices
from embedtune.recsys.config import RecsysConfig
from embedtune.recsys.sql import literal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", action="append", required=True)
    args = parser.parse_args()
    dev = load_retrieval_split(args.data, "dev")
    docs = list(dev.corpus)
    col = {d: i for i, d in enumerate(docs)}
    qids = dev.query_ids
    events = dict(duckdb.sql(f"SELECT item_id, count(*) FROM read_parquet({literal(args.data / 'interactions.parquet')}) "
                             "WHERE split = 'train' GROUP BY item_id").fetchall())
    cold_item = np.array([events.get(d, 0) <= RecsysConfig().cold_threshold for d in docs])
    cold_ids = set(_read_slices(args.data, dev).get("target_popularity", {}).get("cold", []))
    cold_users = np.array([q in cold_ids for q in qids])
    target = np.array([col[next(iter(dev.relevant(q)))] for q in qids])
    history = np.zeros((len(qids), len(docs)), dtype=bool)
    for r, q in enumerate(qids):
        history[r, [col[d] for d in dev.exclude.get(q, ()) if d in col]] = True

    def ndcg(scores: np.ndarray, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        s = np.where(history, -np.inf, scores)
        if among is not None:
            s = np.where(among[None, :], s, -np.inf)
        at = s[np.arange(len(qids)), target]
        rank = (s > at[:, None]).sum(1) + 1
        return np.where(np.isfinite(at) & (rank <= 10), 1 / np.log2(rank + 1), 0.0), rank

    print(f"{len(qids)} dev users, {cold_users.sum()} cold targets, {cold_item.sum()} cold items")
    print("| tower | λ | ū from | all / cold / warm NDCG@10 | cold targets among cold items: NDCG@10, median rank |")
    print("|---|---:|---|---:|---:|")
    for model in args.model:
        users, items, train_mean = tower_vectors(args.data, dev, model)
        means = {"dev": users.mean(0), "train": train_mean}
        for lam in (0.0, 0.5, 1.0):
            for source, mean in means.items():
                scores = (users - lam * mean) @ items.T
                overall, _ = ndcg(scores)
                within, rank = ndcg(scores, cold_item)
                print(f"| {Path(model).name} | {lam:g} | {source if lam else '—'} | {overall.mean():.4f} / "
                      f"{overall[cold_users].mean():.4f} / {overall[~cold_users].mean():.4f} | "
                      f"{within[cold_users].mean():.4f}, {np.median(rank[cold_users]):.0f} |", flush=True)
                if lam == 0:
                    break


if __name__ == "__main__":
    main()
