"""Benchmark (DEV split only): cold items borrow the item-to-item parts' scores of their nearest warm items.

The recommendation hybrid ranks cold items (at most ``cold_threshold`` training events) low because every
item-to-item part (cooccurrence, transitions, attributes) has little or nothing to say about them: the fused
list fills with warm items and the cold targets score 0 (docs/benchmarks.md, "Stop 24"/"Stop 25"). A common
remedy for item cold start is to map content into the collaborative space (CB2CF, DropoutNet): here, a cold
item's per-user z-score in each item-to-item part becomes ``(1 − β) · own + β · Σ a_w · z(w)`` over its 5
nearest warm items ``w`` by the fused tower's own item vectors (``a_w`` = cosine similarities clipped at 0,
normalised to sum 1). Popularity and the tower keep their own scores. β is searched with the five-part 0.1
weight grid on the dev users, unconstrained, and cross-validated across them (5 folds × 10 shuffles of
``recsys_fusion_cv.cv_splits``) beside the plain grid (β = 0, what ``embedtune eval`` does). The test split
is never read::

    OMP_NUM_THREADS=1 .venv/bin/python bench/recsys_cold_impute_dev.py --data bench/out/shop0/data \\
        --model bench/out/shop0/model-logqon --out bench/out/shop0/cold-impute-logqon.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from recsys_cold_rule_dev import choose, dev_matrices, ndcg_of, ranks  # bench/ is on sys.path
from recsys_fusion_cv import PARTS, cv_splits, grid

from embedtune.dense import DenseSystem

ITEM_TO_ITEM = ("cooccurrence", "transitions", "attributes")
BETAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def borrowing(vectors: np.ndarray, cold: np.ndarray, k: int) -> np.ndarray:
    """[item, item]: row c holds the weights cold item c borrows from its ``k`` nearest warm items (0 rows for warm)."""
    sim = vectors @ vectors.T
    sim[:, cold] = -np.inf  # borrow from warm items only
    out = np.zeros_like(sim)
    for c in np.flatnonzero(cold):
        near = np.argsort(-sim[c])[:k]
        a = np.clip(sim[c, near], 0, None)
        if a.sum() > 0:
            out[c, near] = a / a.sum()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--neighbours", type=int, default=5)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    m = dev_matrices(args.data, args.model)
    dev, docs, z, listed = m.dev, m.docs, m.z, m.listed
    cold_item, target, cold_users, tower = m.cold_item, m.target, m.cold_users, m.tower
    n_users = len(m.qids)
    vectors = DenseSystem("model", args.model).corpus_embeddings([dev.corpus[d].full_text for d in docs])
    borrow = borrowing(vectors, cold_item, args.neighbours)
    print(f"{n_users} dev users ({cold_users.sum()} cold targets; {cold_item.sum()} cold items); tower alone "
          f"{tower.mean():.4f}, cold {tower[cold_users].mean():.4f}")

    configs, scores = [], []
    weights5 = grid(len(PARTS))
    for beta in BETAS:
        zb = dict(z)
        for p in ITEM_TO_ITEM:
            borrowed = z[p] @ borrow.T  # [user, item]: Σ_w a_cw z_p[u, w] in cold columns, 0 in warm ones
            zb[p] = np.where(cold_item[None, :], (1 - beta) * z[p] + beta * borrowed, z[p])
        cand = listed | (cold_item[None, :] & (beta > 0))
        for ws in weights5:
            fused = sum(w * zb[p] for w, p in zip(ws, PARTS, strict=True))
            configs.append({"beta": beta, **dict(zip(PARTS, ws, strict=True))})
            scores.append(ndcg_of(ranks(fused, cand, target)))
    scores = np.stack(scores)
    plain = np.array([c["beta"] == 0 for c in configs])
    everyone = np.arange(n_users)
    results = {"dev_users": int(n_users), "cold_users": int(cold_users.sum()), "cold_items": int(cold_item.sum()),
               "tower": {"all": float(tower.mean()), "cold": float(tower[cold_users].mean())}, "rules": {}}
    print("| rule | in-sample all / cold / warm | cross-validated all / cold / warm | configuration |\n|---|---:|---:|---|")
    for name, mask in (("five parts (beta 0)", plain), ("impute (beta searched)", np.ones(len(configs), bool))):
        idx = np.flatnonzero(mask)
        sub = scores[idx]
        pick = choose(sub, None, everyone, cold_users)
        held = np.zeros((args.repeats, n_users))
        picks = []
        for seed, train, test in cv_splits(n_users, args.folds, args.repeats):
            j = choose(sub, None, train, cold_users)
            picks.append(configs[idx[j]]["beta"])
            held[seed, test] = sub[j, test]
        row = {"in_sample": [float(sub[pick].mean()), float(sub[pick][cold_users].mean()), float(sub[pick][~cold_users].mean())],
               "cv": [float(held.mean()), float(held[:, cold_users].mean()), float(held[:, ~cold_users].mean())],
               "config": configs[idx[pick]], "cv_betas": {str(b): picks.count(b) for b in BETAS}}
        results["rules"][name] = row
        print(f"| {name} | {' / '.join(f'{x:.4f}' for x in row['in_sample'])} | "
              f"{' / '.join(f'{x:.4f}' for x in row['cv'])} | {', '.join(f'{k} {v:g}' for k, v in row['config'].items() if v)} "
              f"(CV betas {row['cv_betas']}) |", flush=True)
    # what each beta gives at its own best weights (in-sample): the trade between warm and cold
    for beta in BETAS:
        idx = np.flatnonzero([c["beta"] == beta for c in configs])
        j = idx[int(np.argmax(scores[idx].mean(1)))]
        print(f"beta {beta:g}: best {scores[j].mean():.4f} cold {scores[j][cold_users].mean():.4f} "
              f"({', '.join(f'{k} {v:g}' for k, v in configs[j].items() if v and k != 'beta')})")
        results[f"beta {beta:g}"] = {"all": float(scores[j].mean()), "cold": float(scores[j][cold_users].mean()), "config": configs[j]}
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
