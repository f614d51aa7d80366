"""Benchmark (DEV split only): which fusion rule keeps the text tower's cold-item advantage at least cost?

Issue 14 asks two things of the recommendation hybrid: be the best ranking overall, and "not lose the text
tower's advantage on cold items" (targets with at most ``cold_threshold`` = 5 training events: the
DATA_DIR's ``target_popularity`` slice). The five-part hybrid chosen on dev overall scores 0 on the demo
shop's cold targets. This script scores, on the dev users only, each rule below over the five parts' dev
runs (depth 100, history excluded, z-scored per user over each part's list; an item a part does not list
scores 0 there — ranx's convention), and chooses each rule's configuration two ways: **unconstrained** (best
dev NDCG@10 overall) and **constrained** (best overall among configurations whose cold-target NDCG@10 is at
least the tower's own on the same users):

- ``weights``: the 0.1-step weight grid of the five parts (what ``embedtune eval`` searches).
- ``cold part``: a sixth part, the tower's scores of cold items only (z-scored among them), with its own
  weight on the 0.1 grid: cold items the tower likes are lifted, warm ones untouched.
- ``slot r``: the five-part fusion, then the tower's best cold candidate put at rank ``r`` (5 or 10) of the
  list when it is not already above it ("reserved slot", a common merge rule for new items); optionally
  only when its tower z-score is at least τ.

Both choices are cross-validated across dev users (5 folds × 10 shuffles of ``recsys_fusion_cv.cv_splits``:
configuration chosen — with the constraint checked — on the other folds, scored on the held-out one);
printed: in-sample and cross-validated overall, cold and warm NDCG@10. The test split is never read::

    OMP_NUM_THREADS=1 .venv/bin/python bench/recsys_cold_rule_dev.py --data bench/out/shop0/data \\
        --model bench/out/shop0/model --out bench/out/shop0/cold-rule-dev.json
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
from recsys_cold_dev import dev_part_runs  # bench/ is on sys.path when a bench script runs
from recsys_fusion_cv import PARTS, cv_splits, grid, zscored

from embedtune.data.records import RetrievalSplit
from embedtune.eval.evaluate import _read_slices
from embedtune.recsys.config import RecsysConfig
from embedtune.recsys.sql import literal


def ranks(fused: np.ndarray, listed: np.ndarray, items: np.ndarray) -> np.ndarray:
    """1-based rank of ``items[u]`` in user u's fused list, ties at their expected rank (rounded down: the
    middle of the tied block); inf if unlisted."""
    s = np.where(listed, fused, -np.inf)
    at = s[np.arange(len(items)), items]
    higher = (s > at[:, None]).sum(1)
    tied = (s == at[:, None]).sum(1) - 1
    return np.where(np.isfinite(at), higher + tied // 2 + 1, np.inf)


def ndcg_of(rank: np.ndarray) -> np.ndarray:
    return np.where(rank <= 10, 1 / np.log2(np.minimum(rank, 10) + 1), 0.0)


def choose(scores: np.ndarray, floor: np.ndarray | None, users: np.ndarray, cold_users: np.ndarray) -> int:
    """The configuration best on ``users`` overall (``scores``: [config, user]); with ``floor`` ([user]: the
    tower's NDCG@10) only among those whose cold-user mean is at least the tower's (else the best cold one)."""
    overall = scores[:, users].mean(1)
    if floor is None:
        return int(np.argmax(overall))
    cold = users[cold_users[users]]
    if len(cold) == 0:
        return int(np.argmax(overall))
    ok = scores[:, cold].mean(1) >= floor[cold].mean() - 1e-12
    if not ok.any():
        return int(np.argmax(scores[:, cold].mean(1)))
    return int(np.flatnonzero(ok)[np.argmax(overall[ok])])


@dataclass
class DevMatrices:
    """The dev users' five part runs as [user, item] matrices, and who and what is cold."""

    dev: RetrievalSplit
    docs: list[str]
    col: dict[str, int]
    qids: list[str]
    runs: dict
    z: dict[str, np.ndarray]  # each part's per-user z-scores of its top 100, 0 elsewhere
    listed: np.ndarray  # [user, item]: some part lists the item
    cold_item: np.ndarray  # [item]: at most cold_threshold training events
    target: np.ndarray  # [user]: the dev target's column
    cold_users: np.ndarray  # [user]: the target is cold
    tower: np.ndarray  # [user]: the tower's NDCG@10 alone


def dev_matrices(data: Path, model: str) -> DevMatrices:
    dev, docs, col, qids, runs = dev_part_runs(data, model, 100)
    n_users, n_items = len(qids), len(docs)
    z = {p: zscored(runs[p], qids, col, n_items) for p in PARTS}
    listed = np.zeros((n_users, n_items), dtype=bool)
    for p in PARTS:
        for r, q in enumerate(qids):
            listed[r, [col[d] for d, _ in runs[p].get(q, [])[:100]]] = True
    events = dict(duckdb.sql(f"SELECT item_id, count(*) FROM read_parquet({literal(data / 'interactions.parquet')}) "
                             "WHERE split = 'train' GROUP BY item_id").fetchall())
    cold_item = np.array([events.get(d, 0) <= RecsysConfig().cold_threshold for d in docs])
    target = np.array([col[next(iter(dev.relevant(q)))] for q in qids])
    cold_ids = set(_read_slices(data, dev).get("target_popularity", {}).get("cold", []))
    cold_users = np.array([q in cold_ids for q in qids])
    tower = ndcg_of(ranks(z["model"], listed, target))
    return DevMatrices(dev, docs, col, qids, runs, z, listed, cold_item, target, cold_users, tower)


def tower_vectors(data: Path, dev: RetrievalSplit, model: str, centre_from: str = "train"
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tower's dev user vectors, its item vectors (in ``dev.corpus`` order) and ū, the mean vector of the
    training profiles (``centre_from="dev"``: of the dev profiles, what ``embedtune eval`` stores)."""
    from embedtune.data.beir import load_retrieval_split
    from embedtune.dense import DenseSystem

    system = DenseSystem("tower", model)
    items = system.corpus_embeddings([doc.full_text for doc in dev.corpus.values()])
    users = system.encode([dev.queries[q] for q in dev.query_ids], "query")
    if centre_from == "dev":
        return users, items, users.mean(0)
    train = load_retrieval_split(data, "train")
    mean = system.encode([train.queries[q] for q in train.query_ids], "query").mean(0)
    return users, items, mean


def centred_run(data: Path, dev: RetrievalSplit, model: str, lam: float, centre_from: str = "train") -> dict:
    """The tower's full ranking of every dev user with the user vector centred: ``(u − λ·ū)·v``. Subtracting ū
    removes ``ū·v``, the part of an item's score every user shares (what a logQ-corrected tower learns of
    popularity), and leaves the user-specific part."""
    from embedtune.data.runs import top_k_from_scores

    users, items, mean = tower_vectors(data, dev, model, centre_from)
    docs = list(dev.corpus)
    return top_k_from_scores((users - lam * mean) @ items.T, dev.query_ids, docs, len(docs), dev.exclude)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--cold-model", help="the tower whose cold-item scores make the cold part and the slot "
                        "(default: --model; the base model keeps more of its cold advantage than a fine-tune)")
    parser.add_argument("--center", type=float, default=0.0,
                        help="make the cold source the cold tower's scores with user vectors centred: u − λ·ū, ū the "
                        "mean of the training profiles' vectors (removes the item bias every user shares; λ here)")
    parser.add_argument("--centre-from", choices=["train", "dev"], default="train",
                        help="ū over the training profiles, or over the dev profiles (what `embedtune eval` stores)")
    parser.add_argument("--floor", choices=["model", "cold-model"], default="model",
                        help="whose cold-target NDCG@10 the constrained choice must reach (default: the tower's)")
    parser.add_argument("--floor-share", type=float, default=1.0,
                        help="the constrained choice must reach this share of the floor (embedtune eval --keep-cold SHARE)")
    parser.add_argument("--slot-only", action="store_true", help="skip the six-part `cold part` rule (minutes)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    m = dev_matrices(args.data, args.model)
    dev, docs, col, qids, runs, z, listed = m.dev, m.docs, m.col, m.qids, m.runs, m.z, m.listed
    cold_item, target, cold_users, tower = m.cold_item, m.target, m.cold_users, m.tower
    n_users, n_items = len(qids), len(docs)
    print(f"{n_users} dev users ({cold_users.sum()} cold targets; {cold_item.sum()} cold items); tower alone "
          f"{tower.mean():.4f}, cold {tower[cold_users].mean():.4f}")

    # the cold part: the (cold) tower's run restricted to cold items, z-scored among them
    if args.center:
        cold_source = centred_run(args.data, dev, args.cold_model or args.model, args.center,
                                  args.centre_from)
        z_source = zscored(cold_source, qids, col, n_items)
        source = ndcg_of(ranks(z_source, listed | (z_source != 0), target))
        if args.floor == "cold-model":
            tower = source
        print(f"centred cold tower (λ {args.center}): alone {source.mean():.4f}, cold {source[cold_users].mean():.4f}")
    elif args.cold_model:
        from embedtune.dense import DenseSystem

        cold_source = DenseSystem("cold", args.cold_model).rank(dev, 100)
        z_source = zscored(cold_source, qids, col, n_items)
        source = ndcg_of(ranks(z_source, listed | (z_source != 0), target))
        if args.floor == "cold-model":
            tower = source
        print(f"cold tower {args.cold_model}: alone {source.mean():.4f}, cold {source[cold_users].mean():.4f}")
    else:
        cold_source, z_source = runs["model"], z["model"]
    cold_run = {q: [(d, s) for d, s in cold_source[q] if cold_item[col[d]]] for q in qids}
    z_cold = zscored(cold_run, qids, col, n_items)
    # the cold part's items are candidates too (a sixth part, or the slot's source, lists them)
    with_cold = listed.copy()
    for r, q in enumerate(qids):
        with_cold[r, [col[d] for d, _ in cold_run[q][:100]]] = True
    # the cold tower's best cold candidate per user, and its z-score
    tower_cold = np.where(with_cold & cold_item[None, :], z_source, -np.inf)
    best_cold = tower_cold.argmax(1)
    best_cold_z = tower_cold.max(1)

    rules: dict[str, tuple[list, np.ndarray]] = {}
    configs5 = grid(len(PARTS))
    fused5 = [sum(w * z[p] for w, p in zip(ws, PARTS, strict=True)) for ws in configs5]
    rank5 = np.stack([ranks(f, listed, target) for f in fused5])
    rules["weights"] = ([dict(zip(PARTS, ws, strict=True)) for ws in configs5], ndcg_of(rank5))
    configs6 = grid(len(PARTS) + 1)
    parts6 = (*PARTS, "cold")
    zz = {**z, "cold": z_cold}
    if not args.slot_only:
        rules["cold part"] = ([dict(zip(parts6, ws, strict=True)) for ws in configs6],
                              np.stack([ndcg_of(ranks(sum(w * zz[p] for w, p in zip(ws, parts6, strict=True)),
                                                            with_cold, target)) for ws in configs6]))
    slot_configs, slot_scores = [], []
    for i, ws in enumerate(configs5):
        rank_c = ranks(fused5[i], listed, best_cold)
        for r in (10, 5):
            for tau in (-np.inf, 1.0, 2.0):
                moves = np.isfinite(best_cold_z) & (best_cold_z >= tau) & (rank_c > r)
                new = rank5[i].copy()
                new[moves & (target == best_cold)] = r
                shifted = moves & (target != best_cold) & (rank5[i] >= r) & (rank5[i] < rank_c)
                new[shifted] += 1
                slot_configs.append({**dict(zip(PARTS, ws, strict=True)), "slot": r, "tau": float(tau)})
                slot_scores.append(ndcg_of(new))
    rules["slot"] = (slot_configs, np.stack(slot_scores))
    n_slot = len(slot_configs) // len(configs5)  # the slot settings of each weighting, in order

    def sequential(users: np.ndarray, auto: bool = False) -> tuple[np.ndarray, dict]:
        """What ``embedtune eval --cold-slot on`` does: the weights best overall on ``users``, then the slot setting
        best with them; with ``auto`` (``--cold-slot auto``) the slot only when on ``users`` it raises the cold
        targets' NDCG@10 and costs at most 0.005 overall. Returns the chosen per-user scores and configuration."""
        weights = rules["weights"][1]
        best = int(np.argmax(weights[:, users].mean(1)))
        block = rules["slot"][1][best * n_slot:(best + 1) * n_slot, users].mean(1)
        pick = best * n_slot + int(np.argmax(block))
        row = rules["slot"][1][pick]
        if auto:
            cold = users[cold_users[users]]
            helps = (len(cold) > 0 and row[cold].mean() > weights[best, cold].mean() + 1e-12
                     and row[users].mean() >= weights[best, users].mean() - 0.005)
            if not helps:
                return weights[best], {**rules["weights"][0][best], "slot": 0}
        return row, rules["slot"][0][pick]

    results = {"dev_users": int(n_users), "cold_users": int(cold_users.sum()),
               "floor": args.floor, "floor_share": args.floor_share, "floor_ndcg": {"all": float(tower.mean()), "cold": float(tower[cold_users].mean())},
               "rules": {}}
    everyone = np.arange(n_users)
    print("| rule | choice | in-sample all / cold / warm | cross-validated all / cold / warm | configuration |")
    print("|---|---|---:|---:|---|")
    for name, (configs, scores) in rules.items():
        share = f"{args.floor_share:g} × " if args.floor_share != 1 else ""
        for label, floor in (("unconstrained", None), (f"cold ≥ {share}{args.floor}", tower * args.floor_share)):
            pick = choose(scores, floor, everyone, cold_users)
            held = np.zeros((args.repeats, n_users))
            for seed, train, test in cv_splits(n_users, args.folds, args.repeats):
                held[seed, test] = scores[choose(scores, floor, train, cold_users), test]
            row = {"in_sample": [float(scores[pick].mean()), float(scores[pick][cold_users].mean()),
                                 float(scores[pick][~cold_users].mean())],
                   "cv": [float(held.mean()), float(held[:, cold_users].mean()), float(held[:, ~cold_users].mean())],
                   "config": {k: (v if isinstance(v, str) else float(v)) for k, v in configs[pick].items()}}
            results["rules"][f"{name} / {label}"] = row
            if name == "slot" and floor is None:  # the product's order: weights first, then the slot
                for label2, auto in (("slot after weights", False), ("slot if it helps", True)):
                    row_all, config = sequential(everyone, auto)
                    held = np.zeros((args.repeats, n_users))
                    kept = 0
                    for seed, train, test in cv_splits(n_users, args.folds, args.repeats):
                        row_fold, chosen = sequential(train, auto)
                        held[seed, test] = row_fold[test]
                        kept += bool(chosen.get("slot"))
                    seq = {"in_sample": [float(row_all.mean()), float(row_all[cold_users].mean()),
                                         float(row_all[~cold_users].mean())],
                           "cv": [float(held.mean()), float(held[:, cold_users].mean()),
                                  float(held[:, ~cold_users].mean())],
                           "config": {k: float(v) for k, v in config.items()},
                           "folds_with_slot": kept, "folds": args.folds * args.repeats}
                    results["rules"][f"{label2} / unconstrained"] = seq
                    cfg = ", ".join(f"{k} {v:g}" for k, v in seq["config"].items() if v)
                    print(f"| {label2} | unconstrained | {' / '.join(f'{x:.4f}' for x in seq['in_sample'])} | "
                          f"{' / '.join(f'{x:.4f}' for x in seq['cv'])} | {cfg} (slot in {kept} of "
                          f"{seq['folds']} folds) |", flush=True)
            cfg = ", ".join(f"{k} {v:g}" for k, v in row["config"].items() if v)
            print(f"| {name} | {label} | {' / '.join(f'{x:.4f}' for x in row['in_sample'])} | "
                  f"{' / '.join(f'{x:.4f}' for x in row['cv'])} | {cfg} |", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
