"""Benchmark (DEV split only): item-to-item signals for leave-one-out recommendation, and their fusions.

Scores every dev user of a recsys DATA_DIR (target: the second-to-last new item; history: the user's
items before it, as ``embedtune.recsys.baselines.query_histories`` builds them; history excluded from
the ranking; full catalog) with:

* ``cooc L=.. decay=..``: the ``cooccurrence`` baseline's ItemKNN similarity, summed over the last L
  history items weighted decay^age (embedtune's default: L=50, decay 0.9);
* ``trans W=.. w=.. norm=.. L=.. decay=..``: directional transitions — every pair (i, then j within W
  steps) of a user's time-ordered training events, weighted 1 (``one``) or 1/distance (``inv``),
  normalised by row (``row``: share of what followed i), by sqrt(out_i · in_j) (``cos``) or by
  out_i · in_j^b (``powb``); scored like co-occurrence;
* ``ease lam=..``: EASE (Steck 2019), closed-form item-item regression with L2 weight lam, on the
  same recency-weighted histories.

Statistics use training events only (``split == 'train'``); the test split is never read, so this may
be run as often as needed. NDCG@10 counts a tie at the target's score as half above it. With
``--model`` it then fuses the tower's dev run with the winners by ``embedtune.fusion.choose_fusion`` (as
``embedtune eval`` does) and prints each fusion's dev NDCG@10::

    OMP_NUM_THREADS=1 .venv/bin/python bench/recsys_item2item_dev.py --data bench/out/ml100k-u20/data \\
        --model bench/out/ml100k-u20e2/model --out bench/out/ml100k-u20e2/item2item-dev.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from embedtune.data.beir import load_retrieval_split
from embedtune.data.runs import top_k_from_scores
from embedtune.fusion import choose_fusion, mean_metric
from embedtune.recsys.baselines import query_histories
from embedtune.recsys.stats import ItemStats, connect_interactions

WINDOWS = (1, 2, 3, 5, 10, 20, 50)
HISTORIES = ((1, 1.0), (3, 0.5), (5, 0.5), (5, 0.7), (10, 0.7), (10, 0.8), (20, 0.8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", default=None, help="a tuned text tower: also fuse it with the winners on dev")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    dev = load_retrieval_split(args.data, "dev")
    doc_ids = list(dev.corpus)
    col = {d: i for i, d in enumerate(doc_ids)}
    n = len(doc_ids)
    qids = dev.query_ids
    hist = query_histories(args.data, qids, 10_000)
    target = np.array([col[next(iter(dev.relevant(q)))] for q in qids])
    banned = [(r, col[d]) for r, q in enumerate(qids) for d in dev.exclude.get(q, ()) if d in col]
    ban_rows, ban_cols = (np.array(x) for x in zip(*banned, strict=True)) if banned else (np.array([]), np.array([]))
    con = connect_interactions(args.data)
    events = con.execute("SELECT user_id, item_id FROM inter WHERE split = 'train' ORDER BY user_id, pos").fetchall()
    con.close()
    seqs: dict[str, list[int]] = {}
    for user, item in events:
        if item in col and (not seqs.get(user) or seqs[user][-1] != col[item]):
            seqs.setdefault(user, []).append(col[item])
    stats = ItemStats.from_data_dir(args.data, doc_ids)
    tie = 1e-9 * stats.popularity / max(stats.popularity.max(), 1.0)
    print(f"{args.data}: {len(qids)} dev users, {n} items, {len(events)} training events", flush=True)

    def history_matrix(length: int, decay: float) -> sp.csr_matrix:
        rows, cols, vals = [], [], []
        for r, q in enumerate(qids):
            for age, item in enumerate(hist[q][:length]):
                if item in col:
                    rows.append(r)
                    cols.append(col[item])
                    vals.append(decay**age)
        return sp.csr_matrix((vals, (rows, cols)), shape=(len(qids), n))

    def ndcg(scores: np.ndarray) -> float:
        s = (scores.toarray() if sp.issparse(scores) else np.asarray(scores, dtype=np.float64)) + tie
        s[ban_rows, ban_cols] = -np.inf
        at = s[np.arange(len(qids)), target]
        rank = (s > at[:, None]).sum(1) + 1 + ((s == at[:, None]).sum(1) - 1) / 2
        return float(np.where(rank <= 10, 1 / np.log2(rank + 1), 0.0).mean())

    def transitions(window: int, weight: str, norm: str) -> sp.csr_matrix:
        rows, cols, vals = [], [], []
        for seq in seqs.values():
            a = np.asarray(seq)
            for d in range(1, min(window, len(a) - 1) + 1):
                rows.append(a[:-d])
                cols.append(a[d:])
                vals.append(np.full(len(a) - d, 1.0 if weight == "one" else 1.0 / d))
        t = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        t.setdiag(0)
        t.eliminate_zeros()
        out_w, in_w = (np.maximum(np.asarray(t.sum(a)).ravel(), 1e-12) for a in (1, 0))
        if norm == "row":
            return (sp.diags(1 / out_w) @ t).tocsr()
        if norm == "cos":
            return (sp.diags(1 / np.sqrt(out_w)) @ t @ sp.diags(1 / np.sqrt(in_w))).tocsr()
        return (sp.diags(1 / out_w) @ t @ sp.diags(in_w ** -float(norm[3:]))).tocsr()

    table: dict[str, float] = {}
    matrices: dict[str, tuple[sp.csr_matrix | np.ndarray, int, float]] = {}

    def score(name: str, matrix, length: int, decay: float) -> None:
        table[name] = ndcg(history_matrix(length, decay) @ matrix)
        matrices[name] = (matrix, length, decay)
        print(f"{name:55s} {table[name]:.4f}", flush=True)

    for length in (5, 10, 20, 50):
        for decay in (0.5, 0.7, 0.8, 0.9, 1.0):
            score(f"cooc L={length} decay={decay}", stats.similarity, length, decay)
    for window in WINDOWS:
        for weight in ("one", "inv") if window > 1 else ("one",):
            for norm in ("row", "cos", "pow0.25", "pow0.5"):
                t = transitions(window, weight, norm)
                for length, decay in HISTORIES:
                    score(f"trans W={window} w={weight} norm={norm} L={length} decay={decay}", t, length, decay)
    users = list(seqs)
    x = sp.csr_matrix((np.ones(sum(len(set(s)) for s in seqs.values())),
                       (np.concatenate([np.full(len(set(seqs[u])), k) for k, u in enumerate(users)]),
                        np.concatenate([np.array(sorted(set(seqs[u]))) for u in users]))), shape=(len(users), n))
    gram = (x.T @ x).toarray()
    for lam in (100, 200, 400, 800, 1600):
        p = np.linalg.inv(gram + lam * np.eye(n))
        b = -p / np.diag(p)[None, :]
        np.fill_diagonal(b, 0.0)
        for length, decay in ((10_000, 1.0), (50, 0.9), (20, 0.8)):
            score(f"ease lam={lam} L={length} decay={decay}", b, length, decay)

    fusions = {}
    if args.model:
        from embedtune.dense import DenseSystem

        best = {kind: max((k for k in table if k.startswith(kind)), key=table.get) for kind in ("cooc", "trans", "ease")}
        print("best on dev:", best, flush=True)

        def run_of(name: str):
            matrix, length, decay = matrices[name]
            scores = history_matrix(length, decay) @ matrix
            scores = (scores.toarray() if sp.issparse(scores) else np.asarray(scores)) + tie
            return top_k_from_scores(scores, qids, doc_ids, 100, dev.exclude)

        qrels = {q: dev.qrels[q] for q in qids}
        runs = {"model": DenseSystem("model", args.model).rank(dev, 100),
                "popularity": top_k_from_scores(np.broadcast_to(stats.popularity, (len(qids), n)), qids, doc_ids,
                                                100, dev.exclude),
                "cooccurrence": run_of("cooc L=50 decay=0.9"), "cooc-best": run_of(best["cooc"]),
                "transitions": run_of(best["trans"]), "ease": run_of(best["ease"])}
        combos = {"model ⊕ cooccurrence ⊕ popularity (eval before)": ("model", "cooccurrence", "popularity"),
                  "model ⊕ cooccurrence ⊕ transitions ⊕ popularity": ("model", "cooccurrence", "transitions",
                                                                      "popularity"),
                  "model ⊕ best cooc ⊕ transitions ⊕ popularity": ("model", "cooc-best", "transitions", "popularity"),
                  "model ⊕ transitions ⊕ popularity": ("model", "transitions", "popularity"),
                  "cooccurrence ⊕ transitions ⊕ popularity": ("cooccurrence", "transitions", "popularity"),
                  "model ⊕ ease ⊕ popularity": ("model", "ease", "popularity")}
        for label, parts in combos.items():
            started = time.perf_counter()
            spec = choose_fusion({p: runs[p] for p in parts}, qrels, split="dev")
            fusions[label] = spec.model_dump()
            print(f"{label:50s} {spec.dev_metric['hybrid']:.4f}  {spec.describe()}  "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
        table.update({f"alone: {p}": mean_metric(r, qrels, "ndcg@10") for p, r in runs.items()})
    if args.out is not None:
        args.out.write_text(json.dumps({"dev_ndcg@10": table, "fusions": fusions}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
