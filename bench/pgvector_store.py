"""(Named pgvector_store.py, not pgvector.py: a script's folder comes first on sys.path, and bench/pgvector.py would
shadow the pgvector package.)

PostgreSQL + pgvector beside the embedded faiss HNSW index: push rows/s, build time, query p50/p99 and
recall@10 vs exact at each ef_search, on the same vectors and queries, in the same run.

    /work/heavy .venv/bin/python bench/pgvector_store.py --sizes 10000 100000
    /work/heavy .venv/bin/python bench/pgvector_store.py --sizes 1000000

Vectors: the real all-MiniLM-L6-v2 vectors of the 5,183 SciFact abstracts (``embedtune embed --backend
openvino``, made here if bench/out/scifact-emb is missing), replicated with Gaussian noise to N rows: row i is
``normalize(base[i % 5183] + noise)`` with noise of norm 0.5 (cosine 0.89 to its base row), so the corpus has
the neighbourhood structure of real embeddings, not the structureless worst case of uniform random vectors.
Each row carries its base document's title and text, so COPY moves realistic rows. Queries: the 300 SciFact
test claims, encoded by the same model. Exact top-10 comes from numpy over all N rows.

pgvector runs in a private server started by ``pgserver`` with ``max_parallel_maintenance_workers = 0`` (one core,
like the faiss build here); its table, HNSW (m=16, ef_construction=64) and push are embedtune's own
(:meth:`PgVectorStore.push`). The embedded index is faiss ``IndexHNSWFlat`` with embedtune's parameters (M=32,
ef_construction=80). Latency: one query at a time, query vectors precomputed (encoding excluded for both).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from embedtune.data.records import Document
from embedtune.embed import embed_corpus, iter_embeddings
from embedtune.errors import EmbedtuneError

SCIFACT = Path("/work/shared/data/scifact")
MODEL = "all-MiniLM-L6-v2"
EF_VALUES = (10, 20, 40, 80, 160, 320)


def base_vectors(folder: Path) -> tuple[list[Document], np.ndarray]:
    # Same settings as bench/embed_scale.py --full-corpus-output: whichever runs first writes, the other resumes.
    # The folder is a cache: when it cannot resume (e.g. corpus.jsonl was copied again and its mtime moved),
    # encode again rather than stop (~2 min on one core).
    try:
        embed_corpus(MODEL, SCIFACT / "corpus.jsonl", folder, backend="openvino", threads=1, shard_rows=1000, show_progress=False)
    except EmbedtuneError as exc:
        print(json.dumps({"re_embedding": str(exc)}), flush=True)
        embed_corpus(MODEL, SCIFACT / "corpus.jsonl", folder, backend="openvino", threads=1, shard_rows=1000,
                     overwrite=True, show_progress=False)
    docs, blocks = [], []
    for d, v in iter_embeddings(folder):
        docs += d
        blocks.append(v)
    return docs, np.concatenate(blocks)


def test_queries() -> np.ndarray:
    from embedtune.data.beir import read_qrels, read_queries
    from embedtune.encoders import load_encoder

    queries = read_queries(SCIFACT / "queries.jsonl")
    qids = list(read_qrels(SCIFACT / "qrels" / "test.tsv"))
    return load_encoder(MODEL, "openvino", threads=1).encode([queries[q] for q in qids])


def replicate(base: np.ndarray, n: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for lo in range(0, n, 100_000):
        hi = min(lo + 100_000, n)
        block = base[np.arange(lo, hi) % len(base)] + rng.standard_normal((hi - lo, base.shape[1]), dtype=np.float32) * (noise / np.sqrt(base.shape[1]))
        out[lo:hi] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    scores = queries @ vectors.T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return top


def recall(found: list[list[int]], exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e.tolist())) / len(e) for f, e in zip(found, exact, strict=True)]))


def latency_stats(times: list[float]) -> dict[str, float]:
    ms = np.asarray(times) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def run_size(n: int, base_docs: list[Document], base: np.ndarray, queries: np.ndarray, url: str, noise: float) -> dict:
    import faiss

    from embedtune.index import HNSW_EF_CONSTRUCTION, HNSW_M
    from embedtune.store.postgres import PgVectorStore

    vectors = replicate(base, n, noise, seed=n)
    exact = exact_top(vectors, queries)
    result: dict = {"rows": n}

    def batches(chunk: int = 5000):
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            docs = [Document(id=f"r{i}", title=base_docs[i % len(base_docs)].title, text=base_docs[i % len(base_docs)].text)
                    for i in range(lo, hi)]
            yield docs, vectors[lo:hi]

    store = PgVectorStore(url, table=f"bench_{n}")
    pushed = store.push(batches(), model=MODEL, backend="openvino", dim=vectors.shape[1], total=n, recall_sample=0)
    result["pgvector_push"] = {"copy_s": round(pushed.load_seconds, 1), "hnsw_build_s": round(pushed.index_seconds, 1),
                               "swap_s": round(pushed.swap_seconds, 3), "rows_per_s_copy": round(n / pushed.load_seconds),
                               "rows_per_s_total": round(pushed.rows_per_second)}
    with store.conn.transaction():
        table_mb, hnsw_mb = store.conn.execute(
            "SELECT pg_table_size(%s) / 1e6, pg_relation_size(%s) / 1e6", (f"bench_{n}", f"bench_{n}_embedding_hnsw")).fetchone()
    result["pgvector_push"].update(table_mb=round(float(table_mb), 1), hnsw_index_mb=round(float(hnsw_mb), 1))
    print(json.dumps({"rows": n, **result["pgvector_push"]}), flush=True)
    sweep = []
    for ef in EF_VALUES:
        store.search(queries[:5], k=10, ef_search=ef)  # warm the cache
        times, found = [], []
        for q in queries:
            t0 = time.perf_counter()
            hits = store.search(q, k=10, ef_search=ef)[0]
            times.append(time.perf_counter() - t0)
            found.append([int(h.id[1:]) for h in hits])
        sweep.append({"ef_search": ef, "recall_at_10": round(recall(found, exact), 4), **latency_stats(times)})
        print(json.dumps({"rows": n, "system": "pgvector", **sweep[-1]}), flush=True)
    result["pgvector"] = sweep
    store.close()

    t0 = time.perf_counter()
    graph = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    graph.add(vectors)
    result["faiss_build_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps({"rows": n, "faiss_build_s": result["faiss_build_s"]}), flush=True)
    sweep = []
    for ef in EF_VALUES:
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(ef, 10)
        times, found = [], []
        for q in queries:
            t0 = time.perf_counter()
            _, labels = graph.search(q[None, :], 10, params=params)
            times.append(time.perf_counter() - t0)
            found.append(labels[0].tolist())
        sweep.append({"ef_search": ef, "recall_at_10": round(recall(found, exact), 4), **latency_stats(times)})
        print(json.dumps({"rows": n, "system": "faiss-hnsw", **sweep[-1]}), flush=True)
    result["faiss_hnsw"] = sweep
    times = []
    for q in queries[:100]:
        t0 = time.perf_counter()
        exact_top(vectors, q[None, :])
        times.append(time.perf_counter() - t0)
    result["numpy_exact"] = latency_stats(times)
    print(json.dumps({"rows": n, "system": "numpy-exact", **result["numpy_exact"]}), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--base", type=Path, default=Path("bench/out/scifact-emb"))
    parser.add_argument("--out", type=Path, default=Path("bench/out/pgvector"))
    args = parser.parse_args()

    import pgserver

    args.out.mkdir(parents=True, exist_ok=True)
    base_docs, base = base_vectors(args.base)
    queries = test_queries()
    data_dir = tempfile.mkdtemp(prefix="pgbench-", dir=args.out)
    server = pgserver.get_server(data_dir, cleanup_mode="delete")
    server.psql("ALTER SYSTEM SET max_parallel_maintenance_workers = 0; ALTER SYSTEM SET max_parallel_workers_per_gather = 0;")
    server.psql("SELECT pg_reload_conf();")
    print(json.dumps({"base_rows": len(base), "queries": len(queries), "postgres": server.psql("SHOW server_version;").split()[2]}), flush=True)
    try:
        for n in args.sizes:
            result = run_size(n, base_docs, base, queries, server.get_uri(), args.noise)
            (args.out / f"result-{n}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
