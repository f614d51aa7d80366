"""Pseudo-relevance feedback for the dense part of the hybrid, dev only (never reads test).

Vector PRF (Rocchio on embeddings; Li et al. 2021, "Pseudo Relevance Feedback with Deep Language Models and
Dense Retrievers"): the query vector is moved toward the mean of its top ``k`` documents,
``q' = normalise(q + beta * mean(d_1..d_k))``, and the corpus is searched again. Two sources of feedback
documents are compared: the dense model's own top ``k`` (``dense-prf``) and the hybrid's (``hybrid-prf``: the
dense ⊕ BM25 fusion chosen on dev, so BM25's lexical evidence picks the documents the dense query moves toward).
Each variant's dense run is fused with BM25 again by :func:`embedtune.fusion.choose_fusion` (the product's
choice) and its dev NDCG@10 compared with the plain hybrid's by the paired bootstrap over the dev queries.

    HF_HUB_OFFLINE=1 /work/heavy .venv/bin/python bench/prf_dev.py --data bench/out/sf-b64/data \\
        --model bench/out/sf-b64/model --model BASE_MODEL_DIR --name sf-b64

Results: ``bench/out/hybrid/prf-<name>.json``.
"""

from __future__ import annotations

import os

import hybrid_dev as dev  # bench/ is on sys.path when a bench script runs

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = dev.dev_parser(__doc__)
    parser.add_argument("--model", action="append", required=True, help="repeatable")
    parser.add_argument("--ks", default="1,3,5", help="feedback documents")
    parser.add_argument("--betas", default="0.5,1,2", help="weight of the feedback centroid")
    args = dev.parse_dev_args(parser)

    import numpy as np

    from embedtune.data.runs import top_k_from_scores
    from embedtune.eval.bootstrap import compare
    from embedtune.eval.systems import BM25System, DenseSystem
    from embedtune.fusion import choose_fusion, fuse_runs

    depth = 100
    ret, qrels, relevant = dev.load_dev(args.data, args.split)
    qids = ret.query_ids
    doc_ids = list(ret.corpus)
    index = {d: i for i, d in enumerate(doc_ids)}
    lexical = BM25System().rank(ret, depth)

    def ndcg(run) -> list[float]:
        return dev.per_query_ndcg(run, qids, relevant)

    def hybrid(dense_run):
        runs = {"model": dense_run, "bm25": lexical}
        spec = choose_fusion(runs, qrels, split=args.split, data=str(args.data), depth=depth)
        return spec, fuse_runs(spec, runs, k=depth)

    result: dict = {"data": str(args.data), "split": args.split, "n_queries": len(qids), "models": {}}
    for model in args.model:
        system = DenseSystem("model", model)
        docs = system.corpus_embeddings([ret.corpus[d].full_text for d in doc_ids])
        queries = system.encode([ret.queries[q] for q in qids], "query")

        def search(query_emb, docs=docs):
            return top_k_from_scores(query_emb @ docs.T, qids, doc_ids, depth, ret.exclude)

        dense = search(queries)
        spec, fused = hybrid(dense)
        plain = ndcg(fused)
        rows = [{"variant": "plain", "fusion": spec.describe(), "dense": float(np.mean(ndcg(dense))),
                 "hybrid": float(np.mean(plain))}]
        print(f"{model} | plain | dense {rows[0]['dense']:.4f} | hybrid {rows[0]['hybrid']:.4f} ({spec.describe()})",
              flush=True)
        for source, feedback_run in (("dense-prf", dense), ("hybrid-prf", fused)):
            for k in [int(x) for x in args.ks.split(",")]:
                centroid = np.stack([docs[[index[d] for d, _ in feedback_run[q][:k]]].mean(axis=0) for q in qids])
                for beta in [float(x) for x in args.betas.split(",")]:
                    moved = queries + beta * centroid
                    moved /= np.linalg.norm(moved, axis=1, keepdims=True)
                    prf_dense = search(moved)
                    prf_spec, prf_fused = hybrid(prf_dense)
                    scores = ndcg(prf_fused)
                    c = compare(f"{source} k={k} beta={beta:g}", "plain hybrid", "ndcg@10", np.array(scores), np.array(plain))
                    row = {"variant": source, "k": k, "beta": beta, "fusion": prf_spec.describe(),
                           "dense": float(np.mean(ndcg(prf_dense))), "hybrid": float(np.mean(scores)),
                           "vs_plain": c.to_dict()}
                    rows.append(row)
                    print(f"{model} | {source} k={k} beta={beta:g} | dense {row['dense']:.4f} | hybrid "
                          f"{row['hybrid']:.4f} ({prf_spec.describe()}) | {c.sentence()}", flush=True)
        result["models"][model] = rows
    dev.write_result(result, f"prf-{args.name}")


if __name__ == "__main__":
    main()
