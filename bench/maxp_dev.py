"""Long documents, dev only: score a document by its best 256-token window (MaxP) instead of its first one.

Every document longer than ``--window`` tokens is cut at token boundaries (the tokenizer's character offsets,
so each window is a slice of the original text) into consecutive windows; windows after the first get the
title in front. The model encodes every window at its own max_seq_length, and a document scores the maximum
over its windows (Dai & Callan 2019, "MaxP"). Compared on the ``dev`` split with the usual first-window
ranking, each alone and fused with BM25 by :func:`embedtune.fusion.choose_fusion` (the product's choice);
the test split is refused::

    HF_HUB_OFFLINE=1 /work/heavy .venv/bin/python bench/maxp_dev.py --data bench/out/sf-cur/data \\
        --model bench/out/sf-cur/model --name sf-cur

Results: ``bench/out/hybrid/maxp-<name>.json``.
"""

from __future__ import annotations

import os

import hybrid_dev as dev  # bench/ is on sys.path when a bench script runs
import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def windows(title: str, text: str, tokenizer, size: int) -> list[str]:
    """``title text`` when it fits in ``size`` tokens, else consecutive slices of ``text`` (title in front)."""
    full = f"{title} {text}".strip() if title else text
    offsets = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    if len(offsets) <= size:
        return [full]
    cuts = [offsets[i][0] for i in range(0, len(offsets), size)] + [len(full)]
    parts = [full[a:b].strip() for a, b in zip(cuts, cuts[1:], strict=False)]
    return [parts[0]] + [f"{title} {p}".strip() for p in parts[1:] if p]


def main() -> None:
    parser = dev.dev_parser(__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--window", type=int, default=250, help="tokens per window (room left for [CLS]/[SEP])")
    args = dev.parse_dev_args(parser)

    from embedtune.data.runs import top_k_from_scores
    from embedtune.eval.bootstrap import compare
    from embedtune.eval.systems import BM25System, DenseSystem
    from embedtune.fusion import choose_fusion, fuse_runs

    depth = 100
    ret, qrels, relevant = dev.load_dev(args.data, args.split)
    dense = DenseSystem("model", args.model)
    doc_ids = list(ret.corpus)
    texts, owner = [], []
    for i, d in enumerate(doc_ids):
        doc = ret.corpus[d]
        for w in windows(doc.title, doc.text, dense.model.tokenizer, args.window):
            texts.append(w)
            owner.append(i)
    owner_arr = np.asarray(owner)
    print(f"{len(doc_ids)} documents -> {len(texts)} windows of <= {args.window} tokens", flush=True)
    win_emb = dense.corpus_embeddings(texts)
    query_emb = dense.encode([ret.queries[q] for q in ret.query_ids], "query")
    win_scores = query_emb @ win_emb.T
    doc_scores = np.full((len(ret.query_ids), len(doc_ids)), -np.inf, dtype=np.float32)
    np.maximum.at(doc_scores.T, owner_arr, win_scores.T)
    runs = {
        "first": dense.rank(ret, depth),
        "maxp": top_k_from_scores(doc_scores, ret.query_ids, doc_ids, depth, ret.exclude),
    }
    bm25 = BM25System().rank(ret, depth)
    result: dict = {"data": str(args.data), "split": args.split, "model": args.model, "n_windows": len(texts),
                    "systems": {}}
    hybrid_ndcg = {}
    for name, run in runs.items():
        spec = choose_fusion({"model": run, "bm25": bm25}, qrels, split=args.split, data=str(args.data), depth=depth)
        fused = fuse_runs(spec, {"model": run, "bm25": bm25}, k=depth)
        hybrid_ndcg[name] = dev.per_query_ndcg(fused, ret.query_ids, relevant)
        result["systems"][name] = {"fusion": spec.describe(), **spec.dev_metric}
        print(f"{name:6s} | {spec.describe():32s} | hybrid {spec.dev_metric['hybrid']:.4f} "
              f"dense {spec.dev_metric['model']:.4f} bm25 {spec.dev_metric['bm25']:.4f}", flush=True)
    c = compare("hybrid, MaxP", "hybrid, first window", "ndcg@10", hybrid_ndcg["maxp"], hybrid_ndcg["first"])
    result["comparison"] = c.to_dict()
    print(c.sentence(), flush=True)
    dev.write_result(result, f"maxp-{args.name}")


if __name__ == "__main__":
    main()
