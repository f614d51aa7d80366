"""Benchmark (DEV split only): an attribute-profile part ("attributes") beside co-occurrence — alone, and fused.

Co-occurrence and transitions pool users item by item; a shop's tastes are often shares of categories and
brands, which item-to-item statistics cannot pool across users. ``attributes`` reads the catalog's
categorical fields, whatever the DATA_DIR's ``corpus.jsonl`` carries beside id, title and text: every
metadata field with at least 2 and at most ``--max-share`` × items distinct values (titles, descriptions,
prices and other id-like fields are skipped; the manifest's ``category_separator`` splits a multi-valued
category). For each query, the user's history before the target (the last 50 distinct items, weighted
``decay^age``: ``embedtune.recsys.baselines.query_histories``) gives a count per field value, shrunk toward
the population's distribution over training events (``split == 'train'``)::

    P(v | user) = (n_user(v) + α · P_train(v)) / (n_user + α)

An item scores ``Σ_fields log P(its value | user)`` (a multi-valued field: the mean over its values) —
naive Bayes — plus a popularity term: ``none``, ``log`` (``log(1 + training events)``) or ``cell`` (the log
of the item's share of the training events of the items with all its field values). ``tree``: a field
whose every value belongs to one value of a coarser field (a brand within a category) is scored given that
value, ``P(brand | category, user)`` shrunk toward ``P_train(brand | category)``, so the coarser field is
not counted twice. ``mixture`` (what ``embedtune.recsys.attributes`` keeps): a mixture over fields instead
of a product, ``log(mean_f Σ_v P_f(v | user) · share(item | v))``, ``share(item | v)`` being the item's share
of the training events of the value's items (add-one per item): pick a value by the user's taste, then an
item in it by popularity (no separate popularity term). Cold items are scored by their attributes like any
other; the history is excluded from the ranking, as everywhere.

Printed: every variant alone (α, structure, popularity, decay), then for the subsets of parts that matter
(``embedtune eval``'s four — model, cooccurrence, transitions, popularity — with and without attributes) the
best of ranx's 0.1-step z-score weight grid on all dev users (in-sample) and its K-fold cross-validated score
(the attribute variant chosen with the weights inside each fold; "nested": first the variant best alone on
the other folds, then the weights with it), and the paired bootstrap (10,000
resamples) of each subset with attributes against the same subset without and against ``eval``'s hybrid of
today (all four parts), user by user on the cross-validated scores. ``--model none`` drops the text tower
(its dev weight is 0 on MovieLens). The test split is never read::

    OMP_NUM_THREADS=1 .venv/bin/python bench/recsys_attributes_dev.py --data bench/out/demo/shop/data \\
        --model bench/out/demo/shop/model --out bench/out/demo/shop/attributes-dev.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
from recsys_fusion_cv import (  # bench/ is on sys.path when a bench script runs
    cv_splits,
    grid,
    held_out,
    per_user_ndcg,
    zscored,
)

from embedtune.data.beir import load_retrieval_split, read_manifest
from embedtune.data.runs import top_k_from_scores
from embedtune.dense import DenseSystem
from embedtune.eval.bootstrap import compare
from embedtune.eval.evaluate import RUN_DEPTH, _read_slices
from embedtune.recsys.attributes import categorical_fields
from embedtune.recsys.baselines import query_histories, recsys_baselines
from embedtune.recsys.stats import ItemStats

ALPHAS = (0.3, 1.0, 3.0, 10.0, 30.0)
STRUCTURES = ("flat", "tree", "mixture")
POPULARITY = ("none", "log", "cell")
DECAYS = (1.0, 0.9)
HISTORY_ITEMS = 50
#: The hybrid's parts before this study (``embedtune eval``'s fusion at 70cbc9f), named as eval names them.
TODAY = ("model", "cooccurrence", "transitions", "popularity")


class AttributeProfile:
    """The attribute part's statistics: one-hot item × value matrices, training priors, parents, popularity."""

    def __init__(self, fields: dict[str, list[list[str]]], popularity: np.ndarray):
        self.names = list(fields)
        n = len(popularity)
        self.onehot, self.values, self.single = {}, {}, {}
        for f, per_item in fields.items():
            values = sorted({v for vs in per_item for v in vs})
            index = {v: j for j, v in enumerate(values)}
            m = np.zeros((n, len(values)))
            for i, vs in enumerate(per_item):
                for v in vs:
                    m[i, index[v]] = 1.0 / len(vs)
            self.onehot[f], self.values[f] = m, values
            self.single[f] = all(len(vs) == 1 for vs in per_item)
        # P_train(v): the share of training events on items with value v (add-one over values: none is 0).
        self.prior = {f: (popularity @ m + 1.0) / (popularity.sum() + m.shape[1]) for f, m in self.onehot.items()}
        # A single-valued field refines a coarser one when each of its values falls in one value of the other.
        self.parent: dict[str, str | None] = {}
        for f in self.names:
            coarser = [g for g in self.names if g != f and self.single[f] and self.single[g]
                       and len(self.values[g]) < len(self.values[f])
                       and np.all((self.onehot[f].T @ self.onehot[g] > 0).sum(1) <= 1)]
            self.parent[f] = max(coarser, key=lambda g: len(self.values[g])) if coarser else None
        self.log_pop = np.log1p(popularity)
        cell = {}
        keys = [tuple(tuple(fields[f][i]) for f in self.names) for i in range(n)]
        for key, p in zip(keys, popularity, strict=True):
            cell[key] = cell.get(key, 0.0) + p
        counts = {}
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        # add-one per item: (pop_i + 1) / (Σ_cell pop + items in cell)
        self.log_cell = np.log((popularity + 1.0) / np.array([cell[k] + counts[k] for k in keys]))

    def scores(self, h: np.ndarray, alpha: float, structure: str, popularity: str) -> np.ndarray:
        """[user, item] log-scores from ``h`` ([user, item] history weights)."""
        out = np.zeros(h.shape)
        total = h.sum(1, keepdims=True)
        if structure == "mixture":
            weight = np.exp(self.log_pop)  # 1 + training events
            for f in self.names:
                m = self.onehot[f]
                within = weight[:, None] * m / (weight @ m)[None, :]  # [item, value]: the item's share of the value
                out += ((h @ m + alpha * self.prior[f]) / (total + alpha)) @ within.T
            return np.log(out / len(self.names))
        for f in self.names:
            m, prior = self.onehot[f], self.prior[f]
            counts = h @ m  # [user, value]
            g = self.parent[f] if structure == "tree" else None
            if g is None:
                p = (counts + alpha * prior) / (total + alpha)
            else:
                up = m.T @ self.onehot[g]  # [value, parent value]: 1 where the value falls in it
                parent_of = up.argmax(1)
                parent_counts = (h @ self.onehot[g])[:, parent_of]
                cond = prior / (prior @ up)[parent_of]  # P_train(v | parent), up to the add-one
                p = (counts + alpha * cond) / (parent_counts + alpha)
            out += np.log(p) @ m.T
        if popularity == "log":
            out += self.log_pop
        elif popularity == "cell":
            out += self.log_cell
        return out


def held_out_nested(scores: np.ndarray, alone: np.ndarray, folds: int, repeats: int) -> np.ndarray:
    """As ``recsys_fusion_cv.held_out``, but in two steps inside each fold: the attribute variant best alone
    on the other folds (``alone``: [variant, user]), then the best weights with it (``scores``: [variant ×
    weighting, user], variant-major)."""
    n_weights = scores.shape[0] // alone.shape[0]
    out = np.zeros((repeats, scores.shape[1]))
    for seed, train, test in cv_splits(scores.shape[1], folds, repeats):
        v = int(np.argmax(alone[:, train].mean(1)))
        block = scores[v * n_weights:(v + 1) * n_weights]
        out[seed, test] = block[int(np.argmax(block[:, train].mean(1))), test]
    return out


def history_weights(histories: dict[str, list[str]], qids: list[str], col: dict[str, int], n: int,
                    decay: float) -> np.ndarray:
    h = np.zeros((len(qids), n))
    for r, q in enumerate(qids):
        for age, item in enumerate(histories.get(q, [])[:HISTORY_ITEMS]):
            if item in col:
                h[r, col[item]] += decay**age
    return h


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", required=True, help="the text tower, or 'none'")
    parser.add_argument("--max-share", type=float, default=0.5, help="skip fields with more distinct values than this share of items")
    parser.add_argument("--alphas", default=",".join(map(str, ALPHAS)))
    parser.add_argument("--structures", default=",".join(STRUCTURES))
    parser.add_argument("--popularity", default=",".join(POPULARITY))
    parser.add_argument("--decays", default=",".join(map(str, DECAYS)))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--depth", type=int, default=RUN_DEPTH, help="candidates per part (eval: %(default)s)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    dev = load_retrieval_split(args.data, "dev")
    docs = list(dev.corpus)
    col = {d: i for i, d in enumerate(docs)}
    qids = dev.query_ids
    n = len(docs)
    runs = {} if args.model == "none" else {"model": DenseSystem("model", args.model).rank(dev, args.depth)}
    runs.update({s.name: s.rank(dev, args.depth) for s in recsys_baselines(args.data, dev)})
    parts = tuple(p for p in TODAY if p in runs)
    target = np.array([col[next(iter(dev.relevant(q)))] for q in qids])
    cold = set(_read_slices(args.data, dev).get("target_popularity", {}).get("cold", []))
    is_cold = np.array([q in cold for q in qids])

    def listed_by(run) -> np.ndarray:
        out = np.zeros((len(qids), n), dtype=bool)
        for r, q in enumerate(qids):
            out[r, [col[d] for d, _ in run.get(q, [])[:args.depth]]] = True
        return out

    z = {p: zscored(runs[p], qids, col, n, args.depth) for p in parts}
    listed_base = np.any([listed_by(runs[p]) for p in parts], axis=0)

    separator = (read_manifest(args.data).get("config") or {}).get("category_separator")
    fields = categorical_fields([dev.corpus[d].metadata for d in docs], {"category": separator} if separator else {},
                                args.max_share)
    popularity = ItemStats.from_data_dir(args.data, docs).popularity
    profile = AttributeProfile(fields, popularity)
    print(f"{args.data}: {len(qids)} dev users ({is_cold.sum()} cold targets), {n} items; fields "
          + ", ".join(f"{f} ({len(profile.values[f])} values{', in ' + profile.parent[f] if profile.parent[f] else ''}"
                      f"{'' if profile.single[f] else ', multi-valued'})" for f in profile.names), flush=True)
    hist = query_histories(args.data, qids, HISTORY_ITEMS)
    variants: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    alone: dict[str, dict[str, float]] = {}
    alone_per: dict[str, np.ndarray] = {}
    print("| attributes (α, structure, popularity, decay) | dev NDCG@10 | cold / warm |\n|---|---:|---:|")
    for decay in map(float, args.decays.split(",")):
        h = history_weights(hist, qids, col, n, decay)
        for alpha, structure, pop in itertools.product(map(float, args.alphas.split(",")), args.structures.split(","),
                                                       args.popularity.split(",")):
            if (structure == "tree" and not any(profile.parent.values())) or (structure == "mixture" and pop != "none"):
                continue  # the mixture ranks within each value by popularity already
            scores = profile.scores(h, alpha, structure, pop)
            run = top_k_from_scores(scores, qids, docs, args.depth, dev.exclude)
            key = f"α {alpha:g} {structure} {pop} {decay:g}"
            variants[key] = (zscored(run, qids, col, n, args.depth), listed_by(run))
            per = per_user_ndcg(variants[key][0], variants[key][1], target)
            alone_per[key] = per
            alone[key] = {"ndcg@10": float(per.mean()), "cold": float(per[is_cold].mean()) if is_cold.any() else 0.0,
                          "warm": float(per[~is_cold].mean())}
            print(f"| {key} | {per.mean():.4f} | {alone[key]['cold']:.4f} / {alone[key]['warm']:.4f} |", flush=True)

    def configs(subset: tuple[str, ...], with_attributes: bool) -> tuple[np.ndarray, list[dict]]:
        scores, labels = [], []
        for key in variants if with_attributes else [None]:
            listed = listed_base | variants[key][1] if key else listed_base
            mats = [z[p] for p in subset] + ([variants[key][0]] if key else [])
            names = [*subset, "attributes"] if key else list(subset)
            for ws in grid(len(mats)):
                scores.append(per_user_ndcg(sum(w * m for w, m in zip(ws, mats, strict=True)), listed, target))
                labels.append({"weights": dict(zip(names, map(float, ws), strict=True)), "attributes": key})
        return np.stack(scores), labels

    wanted = [parts, *[s for s in (("model", "cooccurrence"), ("cooccurrence",), ("cooccurrence", "transitions"),
                                   ("cooccurrence", "transitions", "popularity")) if set(s) <= set(parts) and s != parts]]
    results: dict[str, dict] = {"fields": {f: {"values": len(profile.values[f]), "parent": profile.parent[f],
                                                "multi_valued": not profile.single[f]} for f in profile.names},
                                "attributes_alone": alone}
    held: dict[str, np.ndarray] = {}
    print(f"\n{args.folds}-fold CV over users, {args.repeats} shuffles\n"
          "| parts | in-sample best | cross-validated | cold / warm (in-sample best) |\n|---|---:|---:|---:|")
    for subset in [(), *wanted]:
        for with_attributes in (False, True):
            if (not subset and not with_attributes) or (len(subset) == 1 and not with_attributes):
                continue
            label = " + ".join([*subset, "attributes"] if with_attributes else subset)
            scores, labels = configs(subset, with_attributes)
            best = int(np.argmax(scores.mean(1)))
            held[label] = held_out(scores, args.folds, args.repeats)
            means = held[label].mean(1)
            row = {"in_sample": float(scores[best].mean()), "choice": labels[best], "cv": float(means.mean()),
                   "cv_spread": float(means.std()), "cold": float(scores[best][is_cold].mean()) if is_cold.any() else 0.0,
                   "warm": float(scores[best][~is_cold].mean())}
            nested = ""
            if with_attributes:
                held[label + " (nested)"] = held_out_nested(scores, np.stack(list(alone_per.values())), args.folds,
                                                            args.repeats)
                row["cv_nested"] = float(held[label + " (nested)"].mean())
                nested = f" (variant chosen alone: {row['cv_nested']:.4f})"
            results[label] = row
            choice = ", ".join(f"{p} {w:g}" for p, w in labels[best]["weights"].items())
            choice += f"; {labels[best]['attributes']}" if with_attributes else ""
            print(f"| {label} | {row['in_sample']:.4f} ({choice}) | {row['cv']:.4f} ± {row['cv_spread']:.4f}{nested} "
                  f"| {row['cold']:.4f} / {row['warm']:.4f} |", flush=True)
            del scores

    product = " + ".join(parts)
    print("\nCross-validated, user by user (mean over shuffles; paired bootstrap, 10,000 resamples)")
    comparisons = {}
    for label, scores in held.items():
        if not label.endswith(("attributes", "(nested)")):
            continue
        without = label.removesuffix(" (nested)").removesuffix(" + attributes").removesuffix("attributes").strip()
        for baseline in dict.fromkeys(b for b in (without, product, "cooccurrence") if b):
            base = held[baseline].mean(0) if baseline in held else per_user_ndcg(z[baseline], listed_base, target)
            c = compare(label, baseline, "ndcg@10", scores.mean(0), base)
            comparisons[f"{label} vs {baseline}"] = c.to_dict()
            print(f"{label:55s} − {baseline:45s} {c.mean_diff:+.4f} [{c.ci_low:+.4f}, {c.ci_high:+.4f}] {c.verdict}")
    results["comparisons"] = comparisons
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
