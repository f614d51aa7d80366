"""Diagnostic (demo shop): how high can any recommender get on the generated shop, and where does the hybrid lose?

The shop generator (``embedtune.recsys.generate``) draws every click i.i.d. from a user's latent tastes
(three favourite categories weighted 0.6/0.3/0.1 of 85% of visits, a favourite brand per favourite
category chosen on half of those visits, 15% of visits to a uniformly random category; within a category
or brand, items by Zipf popularity). This script regenerates the shop with the same arguments
(the catalog must match ``items.csv`` title for title, or it stops) and takes each user's true click
probability over the catalog from the generator's latent tastes — a bench-only oracle, never in the product — and ranks it with the user's
history excluded, exactly as every system is scored. No recommender can expect more than this oracle
(ties aside): it is the ceiling for NDCG@10 on targets drawn from those probabilities.

Printed per split (dev always; ``--test`` also reads test for the oracle and the saved runs of an
evaluation, for context only — nothing here is chosen): NDCG@10 of the oracle, of every part that
``embedtune eval`` fuses, of the hybrid with the dev-chosen fusion (``--fusion`` or chosen here on dev as
``eval`` does), per cold / warm target slice, and paired-bootstrap CIs of oracle − cooccurrence and
hybrid − cooccurrence::

    OMP_NUM_THREADS=1 .venv/bin/python bench/recsys_shop_ceiling.py --raw bench/out/shop/raw \
        --data bench/out/shop/data --model bench/out/shop/model --users 400 --items 200 --seed 0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from embedtune.data.beir import load_retrieval_split
from embedtune.data.kinds import RECSYS
from embedtune.dense import DenseSystem
from embedtune.eval.bootstrap import compare
from embedtune.eval.evaluate import RUN_DEPTH, _read_slices
from embedtune.eval.hybrid import default_fusion
from embedtune.fusion import FusionSpec, choose_fusion, fuse_runs
from embedtune.recsys.baselines import query_histories, recsys_baselines
from embedtune.recsys.generate import generate_shop
from embedtune.recsys.stats import ItemStats

HYBRID_WITH = RECSYS.hybrid_with


def true_click_probabilities(n_users: int, n_items: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """``P[user, item]``: the generator's probability that a click of ``user`` goes to ``item`` (rows sum
    to 1; :meth:`~embedtune.recsys.generate.ShopTastes.click_probabilities` of the same ``generate_shop``
    call), and the catalog's titles (to check the shop against ``items.csv``)."""
    shop = generate_shop(n_users=n_users, n_items=n_items, seed=seed)
    return shop.tastes.click_probabilities(), list(shop.items["title"])


def taste_estimate_run(split, data: Path, depth: int, smoothing: float = 1.0) -> dict[str, list[tuple[str, float]]]:
    """The generator's model with its tastes estimated from the user's own history (what a content model could
    learn from the profile at best): P(category) from the share of the user's distinct items in it
    (add-``smoothing``), within it half by training popularity, half by the user's brand share there."""
    docs = list(split.corpus)
    cats = np.array([split.corpus[d].metadata.get("category", "") for d in docs])
    brands = np.array([split.corpus[d].metadata.get("brand", "") for d in docs])
    pop = np.asarray(ItemStats.from_data_dir(data, docs).popularity_scores(docs), dtype=float).ravel() + 1.0
    col = {d: i for i, d in enumerate(docs)}
    cat_values, cat_of = np.unique(cats, return_inverse=True)
    pop_in_cat = pop / np.bincount(cat_of, weights=pop)[cat_of]
    histories = query_histories(data, split.query_ids, max_items=10_000)
    run = {}
    for q in split.query_ids:
        hist = [col[d] for d in histories.get(q, []) if d in col]
        n_cat = np.bincount(cat_of[hist], minlength=len(cat_values)).astype(float)
        p_cat = (n_cat + smoothing / len(cat_values)) / (n_cat.sum() + smoothing)
        brand_share = np.zeros(len(docs))
        for c in set(cat_of[hist]):
            in_c = [i for i in hist if cat_of[i] == c]
            values, counts = np.unique(brands[in_c], return_counts=True)
            share = dict(zip(values, counts / counts.sum(), strict=True))
            members = cat_of == c
            mass = np.array([share.get(b, 0.0) for b in brands[members]]) * pop[members]
            brand_share[members] = mass / mass.sum() if mass.sum() > 0 else pop_in_cat[members]
        within = np.where(brand_share > 0, 0.5 * pop_in_cat + 0.5 * brand_share, pop_in_cat)
        scores = p_cat[cat_of] * within
        for d in split.exclude.get(q, ()):
            scores[col[d]] = -np.inf
        order = np.lexsort((np.arange(len(docs)), -scores))[:depth]
        run[q] = [(docs[i], float(scores[i])) for i in order if np.isfinite(scores[i])]
    return run


def ndcg_at_10(run: dict[str, list[tuple[str, float]]], split) -> dict[str, float]:
    out = {}
    for q in split.query_ids:
        target = next(iter(split.relevant(q)))
        ranked = [d for d, _ in run.get(q, [])[:10]]
        out[q] = 1.0 / np.log2(ranked.index(target) + 2) if target in ranked else 0.0
    return out


def oracle_run(probs: np.ndarray, split, depth: int) -> dict[str, list[tuple[str, float]]]:
    run = {}
    for q in split.query_ids:
        user = int(q[1:].split("@", 1)[0]) - 1
        scores = probs[user].copy()
        for d in split.exclude.get(q, ()):
            scores[int(d) - 1] = -np.inf
        order = np.lexsort((np.arange(len(scores)), -scores))[:depth]
        run[q] = [(str(i + 1), float(scores[i])) for i in order if np.isfinite(scores[i])]
    return run


def report(split, data: Path, runs: dict[str, dict], label: str) -> dict:
    cold = set(_read_slices(data, split).get("target_popularity", {}).get("cold", []))
    per = {name: ndcg_at_10(run, split) for name, run in runs.items()}
    qids = split.query_ids
    rows = {}
    print(f"\n{label}: {len(qids)} users, {sum(q in cold for q in qids)} cold targets")
    print("| system | NDCG@10 | cold | warm |\n|---|---:|---:|---:|")
    for name, scores in per.items():
        c = [scores[q] for q in qids if q in cold]
        w = [scores[q] for q in qids if q not in cold]
        rows[name] = {"ndcg@10": float(np.mean(list(scores.values()))), "cold": float(np.mean(c)) if c else None,
                      "warm": float(np.mean(w))}
        print(f"| {name} | {rows[name]['ndcg@10']:.4f} | {rows[name]['cold'] or 0:.4f} | {rows[name]['warm']:.4f} |")
    for name in per:
        if name != "cooccurrence" and "cooccurrence" in per:
            cmp = compare(name, "cooccurrence", "ndcg@10", np.array([per[name][q] for q in qids]),
                          np.array([per["cooccurrence"][q] for q in qids]))
            rows[name]["vs_cooccurrence"] = cmp.to_dict()
            print(f"  {name} − cooccurrence {cmp.mean_diff:+.4f} [{cmp.ci_low:+.4f}, {cmp.ci_high:+.4f}] {cmp.verdict} "
                  f"({cmp.wins} / {cmp.ties} / {cmp.losses})")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="the folder `recsys generate` wrote (items.csv)")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", help="the text tower to fuse (omit for the oracle and baselines only)")
    parser.add_argument("--fusion", type=Path, help="a fusion.json chosen on dev (default: choose it here on dev)")
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test", action="store_true", help="also report the test split (context only)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    probs, titles = true_click_probabilities(args.users, args.items, args.seed)
    catalog = pd.read_csv(args.raw / "items.csv")
    if list(catalog["title"]) != titles:
        raise SystemExit(f"{args.raw / 'items.csv'}: the regenerated catalog differs: not generated with these arguments")
    results = {}
    spec = FusionSpec.load(args.fusion) if args.fusion else None
    for name in ("dev", "test") if args.test else ("dev",):
        split = load_retrieval_split(args.data, name)
        runs = {"oracle": oracle_run(probs, split, RUN_DEPTH), "tastes from history": taste_estimate_run(
            split, args.data, RUN_DEPTH)}
        parts = {}
        if args.model:
            parts["model"] = DenseSystem("model", args.model).rank(split, RUN_DEPTH)
        baselines = {s.name: s.rank(split, RUN_DEPTH) for s in recsys_baselines(args.data, split)}
        parts.update({p: baselines[p] for p in HYBRID_WITH})  # eval's fusion order
        runs.update(parts)
        if args.model:
            if spec is None and name == "dev":
                spec = choose_fusion(parts, split.qrels, split="dev", data=str(args.data), norms=RECSYS.fusion_norms,
                                     default=default_fusion(HYBRID_WITH))
                print("chosen on dev:", spec.describe(), spec.dev_metric)
            runs["hybrid"] = fuse_runs(spec, parts, k=RUN_DEPTH)
        results[name] = report(split, args.data, runs, name)
    if args.out:
        args.out.write_text(json.dumps({"fusion": spec.model_dump() if spec else None, **results}, indent=1))


if __name__ == "__main__":
    main()
