"""faiss HNSW vs usearch HNSW vs exact, on the 100,000 passage vectors of bench/serve_load.py.

    nice -n 10 .venv/bin/python bench/ann.py --queries 1000

Same M (32) and construction effort (80) for both libraries, one thread for queries; recall@10
is against exact inner-product search over the same vectors; queries are SciFact claims encoded
with the index's model (real queries, not corpus rows).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import faiss
import numpy as np
from usearch.index import Index as UsearchIndex

from embedtune.encoders import load_encoder
from embedtune.index import VectorIndex

DATA = Path(__file__).resolve().parent / "data" / "serve100k" / "index-exact"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--ef-search", type=int, default=64)
    args = parser.parse_args()
    index = VectorIndex.load(DATA, mmap_vectors=False)
    xb = index._dense(slice(0, index.rows))
    texts = [json.loads(line)["text"] for line in open("/work/shared/data/scifact/queries.jsonl", encoding="utf-8")][: args.queries]
    xq = load_encoder(index.manifest.model, "onnx").encode(texts)
    k = 10
    faiss.omp_set_num_threads(1)
    t0 = time.perf_counter()
    exact_scores, exact = faiss.knn(xq, xb, k, metric=faiss.METRIC_INNER_PRODUCT)
    exact_s = time.perf_counter() - t0
    rows = [{"method": "exact (faiss.knn, batch)", "build_s": 0.0, "ms_per_query": round(1000 * exact_s / len(xq), 3), "recall@10": 1.0}]

    def recall(found: np.ndarray) -> float:
        return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, exact, strict=True)]))

    faiss.omp_set_num_threads(2)
    t0 = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(xb.shape[1], args.m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = args.ef_construction
    hnsw.add(xb)
    build = time.perf_counter() - t0
    faiss.omp_set_num_threads(1)
    hnsw.hnsw.efSearch = args.ef_search
    t0 = time.perf_counter()
    found = np.vstack([hnsw.search(q[None], k)[1] for q in xq])
    per = (time.perf_counter() - t0) / len(xq)
    rows.append({"method": f"faiss IndexHNSWFlat M={args.m} efC={args.ef_construction} efS={args.ef_search}",
                 "build_s": round(build, 1), "ms_per_query": round(per * 1000, 3), "recall@10": round(recall(found), 4)})

    t0 = time.perf_counter()
    us = UsearchIndex(ndim=xb.shape[1], metric="ip", dtype="f32", connectivity=args.m,
                      expansion_add=args.ef_construction, expansion_search=args.ef_search)
    us.add(np.arange(len(xb)), xb, threads=2)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = np.vstack([us.search(q, k, threads=1).keys for q in xq])
    per = (time.perf_counter() - t0) / len(xq)
    rows.append({"method": f"usearch M={args.m} efC={args.ef_construction} efS={args.ef_search}",
                 "build_s": round(build, 1), "ms_per_query": round(per * 1000, 3), "recall@10": round(recall(found), 4)})
    print(f"{len(xb):,} vectors x {xb.shape[1]}, {len(xq)} real queries, top-{k}; build on 2 threads, queries on 1")
    print("| method | build s | ms / query | recall@10 vs exact |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['build_s']} | {r['ms_per_query']} | {r['recall@10']} |")


if __name__ == "__main__":
    main()
