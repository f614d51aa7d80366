"""Benchmark (DEV split only): a learned ranker (LightGBM LambdaMART) over the five parts vs ranx's weighted sum.

The recommendation hybrid is a weighted sum of the parts' per-user z-scores with one weight per part: it
cannot say "trust the text tower more for an item co-occurrence has little history on". A learned ranker
can: per (user, candidate item) it sees each part's z-score and rank, the item's training events and the
user's history length, and learns how they combine (LambdaMART, ``lightgbm.LGBMRanker(objective=
"lambdarank")``, hyperparameters fixed in advance, below). Both are cross-validated across the dev users on
the same folds (5 folds × ``--repeats`` shuffles of ``recsys_fusion_cv.cv_splits``: fitted — the weights
chosen, the ranker trained — on the other folds, scored on the held-out one); printed: overall, cold-target
and warm-target NDCG@10. Candidates are the union of the parts' top 100 (history excluded). The test split
is never read::

    OMP_NUM_THREADS=1 .venv/bin/python bench/recsys_ltr_dev.py --data bench/out/shop0/data \\
        --model bench/out/shop0/model-logqon --out bench/out/shop0/ltr-dev-logqon.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb
import numpy as np
from recsys_cold_dev import dev_part_runs  # bench/ is on sys.path when a bench script runs
from recsys_cold_rule_dev import ndcg_of, ranks
from recsys_fusion_cv import PARTS, cv_splits, grid, zscored

from embedtune.eval.evaluate import _read_slices
from embedtune.recsys.sql import literal

PARAMS = {"objective": "lambdarank", "n_estimators": 300, "learning_rate": 0.05, "num_leaves": 7,
          "min_child_samples": 20, "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8,
          "lambdarank_truncation_level": 20, "verbose": -1, "n_jobs": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stumps", action="store_true",
                        help="a more constrained ranker: depth-1 trees (no interactions), 200 of them, 50 users' rows per leaf")
    parser.add_argument("--leaves", type=int, help="with --stumps: leaves per tree instead of 2 (3: interactions of two features)")
    parser.add_argument("--runs-only", action="store_true",
                        help="features from the parts' runs only (z-scores, log-ranks): no item events, no history length")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    try:
        import lightgbm
    except ImportError:
        parser.error("this benchmark needs LightGBM, which embedtune does not depend on: .venv/bin/pip install lightgbm")

    params = {**PARAMS, "num_leaves": args.leaves or 2, "n_estimators": 200, "min_child_samples": 50} if args.stumps else PARAMS

    dev, docs, col, qids, runs = dev_part_runs(args.data, args.model, 100)
    n_users, n_items = len(qids), len(docs)
    z = {p: zscored(runs[p], qids, col, n_items) for p in PARTS}
    rank_in = {}
    listed = np.zeros((n_users, n_items), dtype=bool)
    for p in PARTS:
        r_p = np.full((n_users, n_items), 101.0)
        for r, q in enumerate(qids):
            ids = [col[d] for d, _ in runs[p].get(q, [])[:100]]
            r_p[r, ids] = np.arange(1, len(ids) + 1)
            listed[r, ids] = True
        rank_in[p] = r_p
    events = dict(duckdb.sql(f"SELECT item_id, count(*) FROM read_parquet({literal(args.data / 'interactions.parquet')}) "
                             "WHERE split = 'train' GROUP BY item_id").fetchall())
    log_events = np.log1p(np.array([events.get(d, 0) for d in docs], dtype=float))
    history = np.log1p(np.array([len(dev.exclude.get(q, ())) for q in qids], dtype=float))
    target = np.array([col[next(iter(dev.relevant(q)))] for q in qids])
    cold_ids = set(_read_slices(args.data, dev).get("target_popularity", {}).get("cold", []))
    cold_users = np.array([q in cold_ids for q in qids])
    print(f"{n_users} dev users ({cold_users.sum()} cold targets), {n_items} items, "
          f"{listed.sum(1).mean():.0f} candidates per user")

    # features of every candidate: [user, item, feature]
    feats = np.stack([*(z[p] for p in PARTS), *(np.log(rank_in[p]) for p in PARTS),
                      np.broadcast_to(log_events, (n_users, n_items)),
                      np.broadcast_to(history[:, None], (n_users, n_items))], axis=-1)
    names = [*(f"z_{p}" for p in PARTS), *(f"logrank_{p}" for p in PARTS), "log_events", "log_history"]
    if args.runs_only:
        feats, names = feats[..., : 2 * len(PARTS)], names[: 2 * len(PARTS)]
    label = np.zeros((n_users, n_items), dtype=int)
    label[np.arange(n_users), target] = 1

    def rows(users: np.ndarray):
        mask = listed[users]
        x = feats[users][mask]
        y = label[users][mask]
        return x, y, mask.sum(1)

    # the weighted sum: ranx's 0.1 grid over the five parts' z-scores, as embedtune eval searches it
    configs = grid(len(PARTS))
    wsum = np.stack([ndcg_of(ranks(sum(w * z[p] for w, p in zip(ws, PARTS, strict=True)), listed, target))
                     for ws in configs])
    held = {"weights": np.zeros((args.repeats, n_users)), "ltr": np.zeros((args.repeats, n_users))}
    importance = np.zeros(len(names))
    for seed, train, test in cv_splits(n_users, args.folds, args.repeats):
        held["weights"][seed, test] = wsum[int(np.argmax(wsum[:, train].mean(1))), test]
        x, y, group = rows(train)
        ranker = lightgbm.LGBMRanker(**params, random_state=seed)
        ranker.fit(x, y, group=group)
        importance += ranker.booster_.feature_importance("gain")
        scores = np.full((len(test), n_items), -np.inf)
        mask = listed[test]
        scores[mask] = ranker.predict(feats[test][mask])
        held["ltr"][seed, test] = ndcg_of(ranks(scores, mask, target[test]))
    tower = ndcg_of(ranks(z["model"], listed, target))
    result = {"dev_users": int(n_users), "cold_users": int(cold_users.sum()), "params": params,
              "tower": [float(tower.mean()), float(tower[cold_users].mean()), float(tower[~cold_users].mean())],
              "cv": {}, "importance": dict(zip(names, (importance / importance.sum()).round(4).tolist(), strict=True))}
    print(f"tower alone (in-sample): {tower.mean():.4f} / cold {tower[cold_users].mean():.4f}")
    for name, h in held.items():
        per_repeat = h.mean(1)
        result["cv"][name] = {"all": float(h.mean()), "sd_repeats": float(per_repeat.std()),
                              "cold": float(h[:, cold_users].mean()), "warm": float(h[:, ~cold_users].mean()),
                              "per_user": h.mean(0).tolist()}
        print(f"{name:8s} cross-validated all {h.mean():.4f} (sd {per_repeat.std():.4f}) / cold "
              f"{h[:, cold_users].mean():.4f} / warm {h[:, ~cold_users].mean():.4f}", flush=True)
    diff = held["ltr"].mean(0) - held["weights"].mean(0)
    boot = np.random.default_rng(0).choice(n_users, size=(10_000, n_users))
    lo, hi = np.percentile(diff[boot].mean(1), [2.5, 97.5])
    result["ltr_minus_weights"] = {"mean": float(diff.mean()), "ci95": [float(lo), float(hi)]}
    print(f"ltr - weights (per user, bootstrap over users): {diff.mean():+.4f} [{lo:+.4f}, {hi:+.4f}]")
    print("feature gain share:", result["importance"])
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
