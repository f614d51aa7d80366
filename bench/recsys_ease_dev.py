"""Benchmark (DEV split only): EASE as an item-to-item part beside co-occurrence — alone, and fused.

EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data"): with X the binary user × item
matrix of the DATA_DIR's training events (``split == 'train'``, distinct (user, item) pairs — exactly what
``cooccurrence`` counts), G = XᵀX + λI, P = G⁻¹, B = −P / diag(P) column-wise with a zero diagonal; a
user scores item j as ``h @ B[:, j]``, h being the user's history before the target (the dev query's
items, as ``embedtune.recsys.baselines.query_histories`` builds them, history excluded from the ranking):
``binary`` (every earlier item, weight 1: Steck's x_u), ``last50`` (the last 50 distinct items, weight 1:
what ``cooccurrence`` reads) or ``recency`` (the last 50 weighted 0.9^age, ``cooccurrence``'s defaults). Popularity, far below the signal, breaks ties.

It prints EASE alone per (λ, history), then, for every subset of the parts ``embedtune eval`` fuses
(model, cooccurrence, transitions, popularity) with and without EASE, the best of ranx's 0.1-step
z-score weight grid on all dev users (in-sample) and its K-fold cross-validated score (choose weights —
and EASE's λ and history — on K−1 folds of users, score the held-out fold; ``bench/recsys_fusion_cv.py``
does the same without EASE). Each subset with EASE is compared with the same subset without it, and with
the product's fusion (all four parts), user by user on the cross-validated scores (paired bootstrap,
10,000 resamples). The test split is never read::

    OMP_NUM_THREADS=1 .venv/bin/python bench/recsys_ease_dev.py --data bench/out/shop/data \\
        --model bench/out/shop/model --out bench/out/shop/ease-dev.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
from recsys_cold_dev import dev_part_runs  # bench/ is on sys.path when a bench script runs
from recsys_fusion_cv import PARTS, grid, held_out, per_user_ndcg, zscored

from embedtune.data.runs import top_k_from_scores
from embedtune.eval.bootstrap import compare
from embedtune.eval.evaluate import RUN_DEPTH, _read_slices
from embedtune.recsys.baselines import query_histories
from embedtune.recsys.stats import catalog_connection

LAMBDAS = (10, 50, 100, 250, 500, 1000)
HISTORIES = {"binary": (10_000, 1.0), "last50": (50, 1.0), "recency": (50, 0.9)}


def training_gram(data: Path, doc_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """XᵀX over distinct (user, item) training pairs, and each item's training events (popularity)."""
    con = catalog_connection(data, doc_ids)
    pairs = con.execute("SELECT dense_rank() OVER (ORDER BY p.user_id) - 1 AS u, c.col FROM (SELECT DISTINCT user_id, "
                        "item_id FROM inter WHERE split = 'train') p JOIN catalog c USING (item_id)").fetchnumpy()
    counts = con.execute("SELECT c.col, count(*) AS n FROM inter i JOIN catalog c USING (item_id) "
                         "WHERE i.split = 'train' GROUP BY c.col").fetchnumpy()
    con.close()
    x = np.zeros((int(pairs["u"].max()) + 1, len(doc_ids)))
    x[np.asarray(pairs["u"]), np.asarray(pairs["col"])] = 1.0
    popularity = np.zeros(len(doc_ids))
    popularity[np.asarray(counts["col"])] = np.asarray(counts["n"], dtype=np.float64)
    return x.T @ x, popularity


def ease(gram: np.ndarray, lam: float) -> np.ndarray:
    """Steck's closed form: B = −P / diag(P) (column j divided by P[j, j]), P = (G + λI)⁻¹, diag(B) = 0."""
    p = np.linalg.inv(gram + lam * np.eye(len(gram)))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--lambdas", default=",".join(map(str, LAMBDAS)))
    parser.add_argument("--histories", default=",".join(HISTORIES), help="binary and/or recency")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--depth", type=int, default=RUN_DEPTH, help="candidates per part (eval: %(default)s)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    dev, docs, col, qids, runs = dev_part_runs(args.data, args.model, args.depth)
    n = len(docs)
    target = np.array([col[next(iter(dev.relevant(q)))] for q in qids])
    cold = set(_read_slices(args.data, dev).get("target_popularity", {}).get("cold", []))
    is_cold = np.array([q in cold for q in qids])

    def listed_by(run) -> np.ndarray:
        out = np.zeros((len(qids), n), dtype=bool)
        for r, q in enumerate(qids):
            out[r, [col[d] for d, _ in run.get(q, [])[:args.depth]]] = True
        return out

    z = {p: zscored(runs[p], qids, col, n, args.depth) for p in PARTS}
    listed_base = np.any([listed_by(runs[p]) for p in PARTS], axis=0)

    gram, popularity = training_gram(args.data, docs)
    hist = query_histories(args.data, qids, 10_000)
    variants: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # "λ history" -> (z-scored run, listed)
    alone: dict[str, dict[str, float]] = {}
    print(f"{args.data}: {len(qids)} dev users ({is_cold.sum()} cold targets), {n} items; EASE on "
          f"{int(np.trace(gram))} training (user, item) pairs", flush=True)
    print("| EASE (λ, history) | dev NDCG@10 | cold / warm |\n|---|---:|---:|")
    for lam in map(float, args.lambdas.split(",")):
        b = ease(gram, lam)
        for name in args.histories.split(","):
            length, decay = HISTORIES[name]
            h = np.zeros((len(qids), n))
            for r, q in enumerate(qids):
                for age, item in enumerate(hist[q][:length]):
                    if item in col:
                        h[r, col[item]] = decay**age
            scores = h @ b
            scores += 1e-6 * np.abs(scores).max(initial=1.0) * popularity / max(popularity.max(), 1.0)
            run = top_k_from_scores(scores, qids, docs, args.depth, dev.exclude)
            key = f"λ {lam:g} {name}"
            variants[key] = (zscored(run, qids, col, n, args.depth), listed_by(run))
            per = per_user_ndcg(variants[key][0], variants[key][1], target)
            alone[key] = {"ndcg@10": float(per.mean()), "cold": float(per[is_cold].mean()),
                          "warm": float(per[~is_cold].mean())}
            print(f"| {key} | {per.mean():.4f} | {per[is_cold].mean():.4f} / {per[~is_cold].mean():.4f} |", flush=True)

    def configs(parts: tuple[str, ...], with_ease: bool) -> tuple[np.ndarray, list[dict]]:
        """[config, user] NDCG@10 of every weighting of ``parts`` (+ every EASE variant), and their labels."""
        scores, labels = [], []
        for key in variants if with_ease else [None]:
            listed = listed_base | variants[key][1] if key else listed_base
            mats = [z[p] for p in parts] + ([variants[key][0]] if key else [])
            for ws in grid(len(mats)):
                scores.append(per_user_ndcg(sum(w * m for w, m in zip(ws, mats, strict=True)), listed, target))
                labels.append({"weights": dict(zip([*parts, "ease"] if key else parts, map(float, ws), strict=False)),
                               **({"ease": key} if key else {})})
        return np.stack(scores), labels

    results: dict[str, dict] = {"ease_alone": alone}
    held: dict[str, np.ndarray] = {}
    print(f"\n{args.folds}-fold CV over users, {args.repeats} shuffles\n"
          "| parts | in-sample best | cross-validated | cold / warm (in-sample best) |\n|---|---:|---:|---:|")
    for k in range(len(PARTS) + 1):
        for parts in itertools.combinations(PARTS, k):
            for with_ease in (False, True):
                if not parts and not with_ease:
                    continue
                if len(parts) == 1 and not with_ease:
                    continue  # a part alone: no weights to choose
                label = " + ".join([*parts, "ease"] if with_ease else parts)
                scores, labels = configs(parts, with_ease)
                best = int(np.argmax(scores.mean(1)))
                held[label] = held_out(scores, args.folds, args.repeats)
                means = held[label].mean(1)
                row = {"in_sample": float(scores[best].mean()), "choice": labels[best], "cv": float(means.mean()),
                       "cv_spread": float(means.std()), "cold": float(scores[best][is_cold].mean()),
                       "warm": float(scores[best][~is_cold].mean())}
                results[label] = row
                choice = ", ".join(f"{p} {w:g}" for p, w in labels[best]["weights"].items())
                choice += f"; {labels[best]['ease']}" if with_ease else ""
                print(f"| {label} | {row['in_sample']:.4f} ({choice}) | {row['cv']:.4f} ± {row['cv_spread']:.4f} "
                      f"| {row['cold']:.4f} / {row['warm']:.4f} |", flush=True)

    product = " + ".join(PARTS)
    print("\nCross-validated, user by user (mean over shuffles; paired bootstrap, 10,000 resamples)")
    comparisons = {}
    for label, scores in held.items():
        if not label.endswith("ease"):
            continue
        without = label.removesuffix(" + ease").removesuffix("ease").strip()
        for baseline in dict.fromkeys(b for b in (without, product, "cooccurrence") if b):
            base = held[baseline].mean(0) if baseline in held else per_user_ndcg(z[baseline], listed_base, target)
            c = compare(label, baseline, "ndcg@10", scores.mean(0), base)
            comparisons[f"{label} vs {baseline}"] = c.to_dict()
            print(f"{label:60s} − {baseline:45s} {c.mean_diff:+.4f} [{c.ci_low:+.4f}, {c.ci_high:+.4f}] {c.verdict}")
    results["comparisons"] = comparisons
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
