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

import hybrid_dev as dev  # bench/ is on sys.path when a bench script runs

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def neighbour_titles(corpus: dict, embeddings, k: int) -> dict[str, list[str]]:
    """Each document's ``k`` nearest other documents' titles (cosine of ``embeddings``, corpus order)."""
    import numpy as np

    ids = list(corpus)
    sims = embeddings @ embeddings.T
    np.fill_diagonal(sims, -np.inf)
    nearest = np.argsort(-sims, axis=1)[:, :k]
    return {d: [corpus[ids[j]].title for j in nearest[i] if corpus[ids[j]].title] for i, d in enumerate(ids)}


def main() -> None:
    parser = dev.dev_parser(__doc__)
    parser.add_argument("--model", required=True, help="the dense model (its neighbours, and the dense part)")
    parser.add_argument("--ks", default="1,3,5", help="neighbour titles per document ('' for none)")
    parser.add_argument("--train-queries", action="store_true",
                        help="also: each document expanded with the training queries that judge it relevant")
    parser.add_argument("--read-test", action="store_true",
                        help="a gate's one test read: plain and training-query BM25, each fused with the model as chosen "
                             "on dev, scored on the test split")
    args = dev.parse_dev_args(parser)

    from embedtune.data.expansion import training_expansions
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
                "default": ndcg(fuse_runs(DEFAULT_FUSION, runs, k=depth)), "spec": spec}

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    plain = scored(BM25System().rank(ret, depth))
    result: dict = {"data": str(args.data), "split": args.split, "n_queries": len(qids), "model": args.model,
                    "dense": mean(ndcg(dense)), "variants": {}}
    specs = {}
    variants = {"plain": None, **{f"{k} neighbour titles": int(k) for k in args.ks.split(",") if k}}
    if args.train_queries:
        variants["training queries"] = "train"
    for label, how in variants.items():
        if how is None:
            row = plain
        else:
            extra = (training_expansions(args.data, ret.corpus) if how == "train"
                     else neighbour_titles(ret.corpus, embeddings, how))
            row = scored(BM25System(expansions=extra).rank(ret, depth))
        specs[label] = row["spec"]
        entry = {"bm25": mean(row["bm25"]), "hybrid_choice": mean(row["choice"]), "fusion": row["fusion"],
                 "hybrid_default": mean(row["default"])}
        if how is not None:
            entry["comparisons"] = [compare(f"{what}, {label}", f"{what}, plain BM25", "ndcg@10", row[key],
                                            plain[key]).to_dict()
                                    for what, key in (("BM25", "bm25"), ("hybrid (choice)", "choice"),
                                                      ("hybrid (default)", "default"))]
        result["variants"][label] = entry
        print(f"{label}: BM25 {entry['bm25']:.4f} | hybrid, choice {entry['hybrid_choice']:.4f} ({row['fusion']}) | "
              f"hybrid, default {entry['hybrid_default']:.4f}", flush=True)
        for c in entry.get("comparisons", []):
            print(f"    {c['system']} − {c['baseline']}: {c['mean_diff']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] "
                  f"{c['verdict']}", flush=True)
    if args.read_test:
        result["test"] = read_test(args, system, specs, depth)
    dev.write_result(result, f"expand-{args.name}")


def read_test(args, system, specs: dict, depth: int) -> dict:
    """The test split, read once: the dense model, plain BM25, training-query BM25 and their hybrids with the fusion
    chosen on dev (``specs``), each hybrid compared with the plain one and with the dense model."""
    from embedtune.data.expansion import training_expansions
    from embedtune.eval.bootstrap import compare
    from embedtune.eval.systems import BM25System
    from embedtune.fusion import fuse_runs

    test, _, relevant = dev.load_dev(args.data, "test")
    qids = test.query_ids
    dense = system.rank(test, depth)
    scores = {"model": dev.per_query_ndcg(dense, qids, relevant)}
    for label, expansions in (("plain", None), ("training queries", training_expansions(args.data, test.corpus))):
        lexical = BM25System(expansions=expansions).rank(test, depth)
        scores[f"bm25, {label}"] = dev.per_query_ndcg(lexical, qids, relevant)
        fused = fuse_runs(specs[label], {"model": dense, "bm25": lexical}, k=depth)
        scores[f"hybrid, {label}"] = dev.per_query_ndcg(fused, qids, relevant)
    out = {"n_queries": len(qids), "ndcg@10": {k: sum(v) / len(v) for k, v in scores.items()},
           "fusion": {label: spec.describe() for label, spec in specs.items() if label in ("plain", "training queries")}}
    out["comparisons"] = [compare(a, b, "ndcg@10", scores[a], scores[b]).to_dict()
                          for a, b in (("hybrid, training queries", "hybrid, plain"), ("hybrid, training queries", "model"),
                                       ("bm25, training queries", "bm25, plain"), ("hybrid, plain", "model"))]
    print(f"TEST ({len(qids)} queries): " + " | ".join(f"{k} {v:.4f}" for k, v in out["ndcg@10"].items()))
    for c in out["comparisons"]:
        print(f"    {c['system']} − {c['baseline']}: {c['mean_diff']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] "
              f"{c['verdict']} ({c['wins']} / {c['ties']} / {c['losses']})")
    return out


if __name__ == "__main__":
    main()
