"""BM25 over documents expanded with their dense neighbours' titles, dev only (never reads test; corpus-only).

The hybrid's two parts fail on different queries, but BM25 still misses every document that states a claim
in other words. Document expansion closes part of that gap on the corpus side (doc2query, Nogueira et al.
2019), which needs a query generator we do not have; the corpus-only variant here uses the dense model
instead: each document's BM25 text gets the titles of its ``k`` nearest documents by the dense model's cosine
(cluster-based document expansion, after Liu & Croft, SIGIR 2004) — words a related document uses for the
same subject. Nothing but the corpus and the dense model is read, so a site build could do the same.

For each ``k`` the expanded BM25 is fused with the dense model (the product's choice on dev, and the documented
default) and compared with the plain hybrid by the paired bootstrap over the dev queries::

    HF_HUB_OFFLINE=1 /work/heavy .venv/bin/python bench/expand_dev.py --data bench/out/sf-rec/data \\
        --model BASE_MODEL_DIR --ks 1,3,5 --name base

Results: ``bench/out/hybrid/expand-<name>.json``.
"""

from __future__ import annotations

import os
from dataclasses import replace

import hybrid_dev as dev  # bench/ is on sys.path when a bench script runs

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def expanded_corpus(corpus: dict, embeddings, k: int) -> dict:
    """``corpus`` with each document's text followed by its ``k`` nearest other documents' titles."""
    import numpy as np

    ids = list(corpus)
    sims = embeddings @ embeddings.T
    np.fill_diagonal(sims, -np.inf)
    nearest = np.argsort(-sims, axis=1)[:, :k]
    out = {}
    for i, doc_id in enumerate(ids):
        doc = corpus[doc_id]
        titles = " ".join(corpus[ids[j]].title for j in nearest[i] if corpus[ids[j]].title)
        out[doc_id] = replace(doc, text=f"{doc.text} {titles}".strip())
    return out


def main() -> None:
    parser = dev.dev_parser(__doc__)
    parser.add_argument("--model", required=True, help="the dense model (its neighbours, and the dense part)")
    parser.add_argument("--ks", default="1,3,5", help="neighbour titles per document")
    args = dev.parse_dev_args(parser)

    from embedtune.eval.bootstrap import compare
    from embedtune.eval.systems import BM25System, DenseSystem
    from embedtune.fusion import DEFAULT_FUSION, choose_fusion, fuse_runs

    depth = 100
    ret, qrels, relevant = dev.load_dev(args.data, args.split)
    qids = ret.query_ids
    system = DenseSystem("model", args.model)
    dense = system.rank(ret, depth)
    embeddings = system.corpus_embeddings([d.full_text for d in ret.corpus.values()])

    def ndcg(run) -> list[float]:
        return dev.per_query_ndcg(run, qids, relevant)

    def scored(lexical) -> dict:
        runs = {"model": dense, "bm25": lexical}
        spec = choose_fusion(runs, qrels, split=args.split, data=str(args.data), depth=depth)
        return {"bm25": ndcg(lexical), "choice": ndcg(fuse_runs(spec, runs, k=depth)), "fusion": spec.describe(),
                "default": ndcg(fuse_runs(DEFAULT_FUSION, runs, k=depth))}

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    plain = scored(BM25System().rank(ret, depth))
    result: dict = {"data": str(args.data), "split": args.split, "n_queries": len(qids), "model": args.model,
                    "dense": mean(ndcg(dense)), "variants": {}}
    for k in [0, *(int(x) for x in args.ks.split(","))]:
        row = plain if k == 0 else scored(BM25System().rank(replace(ret, corpus=expanded_corpus(
            ret.corpus, embeddings, k)), depth))
        entry = {"bm25": mean(row["bm25"]), "hybrid_choice": mean(row["choice"]), "fusion": row["fusion"],
                 "hybrid_default": mean(row["default"])}
        if k:
            entry["comparisons"] = [compare(f"{what} of {k}-title expansion", f"{what} of plain BM25", "ndcg@10",
                                            row[key], plain[key]).to_dict()
                                    for what, key in (("BM25", "bm25"), ("hybrid (choice)", "choice"),
                                                      ("hybrid (default)", "default"))]
        result["variants"][k] = entry
        print(f"k {k}: BM25 {entry['bm25']:.4f} | hybrid, choice {entry['hybrid_choice']:.4f} ({row['fusion']}) | "
              f"hybrid, default {entry['hybrid_default']:.4f}", flush=True)
        for c in entry.get("comparisons", []):
            print(f"    {c['system']} − {c['baseline']}: {c['mean_diff']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] "
                  f"{c['verdict']}", flush=True)
    dev.write_result(result, f"expand-{args.name}")


if __name__ == "__main__":
    main()
