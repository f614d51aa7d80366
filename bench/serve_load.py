"""Load benchmark: `embedtune serve` over a 100,000-passage index, torch vs onnx-int8, exact vs HNSW.

    nice -n 10 .venv/bin/python bench/serve_load.py prepare            # passages + both indexes
    nice -n 10 .venv/bin/python bench/serve_load.py load --requests 10000 --concurrency 32
    .venv/bin/python bench/serve_load.py load --client wrk --seconds 30 --concurrency 1 32   # apt install wrk
    .venv/bin/python bench/serve_load.py load --client wrk --indexes index-exact --backends openvino --modes dense hybrid --concurrency 1

`prepare` splits SciFact abstracts (../shared/data/scifact) into sentence windows of 1-3 sentences
until it has 100,000 passages (synthetic but realistic text), encodes them once with the fastest
backend (openvino, after its agreement check) and saves an exact index and a copy with an HNSW
graph; both keep the index's lexical part (BM25 over the passages' real text). `load` starts
`embedtune serve` for each (backend, index) pair on 127.0.0.1, sends a bounded number of /search
requests (SciFact queries, k=10, in each of ``--modes``) from an httpx async client with fixed
concurrency (or, with ``--client wrk``, runs wrk for ``--seconds``: a C client that leaves the CPU
to the server), and reports QPS, p50/p99 latency, errors and the server's peak RSS. Results go to
bench/out/serve_load.json. The load generator shares the 2 cores with the server (and with other
users of the machine): the numbers are pessimistic and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = Path(os.environ.get("SCIFACT", ROOT.parent / "shared" / "data" / "scifact"))
if not SCIFACT.is_dir():
    SCIFACT = Path("/work/shared/data/scifact")
DATA = ROOT / "bench" / "data" / "serve100k"
OUT = ROOT / "bench" / "out"
N_PASSAGES = 100_000


def make_passages(n: int = N_PASSAGES) -> Path:
    sentences_per_doc = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z(])", doc["text"]) if len(s.strip()) > 20]
            sentences_per_doc.append((doc["_id"], doc.get("title", ""), sents))
    rows = []
    for window in (1, 2, 3):
        for doc_id, title, sents in sentences_per_doc:
            for start in range(0, max(0, len(sents) - window + 1)):
                rows.append({"_id": f"{doc_id}#w{window}s{start}", "title": title, "text": " ".join(sents[start:start + window]),
                             "url": f"https://scifact.example/{doc_id}#s{start}", "window": window})
                if len(rows) == n:
                    break
            if len(rows) == n:
                break
        if len(rows) == n:
            break
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / "corpus.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    # SciFact's claims beside the corpus: `index build` measures the HNSW recall on (200 of) them.
    shutil.copyfile(SCIFACT / "queries.jsonl", DATA / "queries.jsonl")
    print(f"{len(rows):,} passages -> {path}")
    return path


def prepare(args: argparse.Namespace) -> None:
    from embedtune.index import VectorIndex, build_index, model_reference, read_index_corpus

    corpus = make_passages(args.passages)
    start = time.perf_counter()
    if args.ann_only:
        # Reuse the encoded exact index; only (re)measure recall on real queries and rebuild the graph.
        from embedtune.encoders import load_encoder
        from embedtune.index import recall_query_vectors

        index = VectorIndex.load(DATA / "index-exact", mmap_vectors=False)
        encoder = load_encoder(index.manifest.model, index.manifest.backend)
        index.recall_queries = recall_query_vectors(encoder, read_index_corpus(corpus).queries)
        index.save(DATA / "index-exact")
    elif args.synthetic_vectors:
        # Serving cost depends on the row count and dimension, not on what the vectors mean; encoding
        # 100k passages takes ~30+ minutes on 2 shared cores. Queries are still encoded for real.
        docs = read_index_corpus(corpus).docs
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((len(docs), 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        index = VectorIndex.from_documents(docs, vectors, model=model_reference(args.model), backend=args.backend,
                                           ann="none", source=str(corpus))
        index.manifest.note = "benchmark: random unit vectors instead of encoded passages"  # type: ignore[attr-defined]
        index.save(DATA / "index-exact")
    else:
        index = build_index(args.model, corpus, DATA / "index-exact", ann="none", backend=args.backend, batch_size=64)
    print(f"encoded + saved {len(index):,} passages with {index.manifest.backend} in {time.perf_counter() - start:.0f} s; "
          f"agreement: {index.manifest.agreement}")
    start = time.perf_counter()
    index = VectorIndex.load(DATA / "index-exact", mmap_vectors=False)
    info = index.build_ann()
    index.save(DATA / "index-hnsw")
    print(f"HNSW: build {info.build_seconds} s, recall@10 vs exact {info.recall_at_10} (ef_search {info.ef_search}); "
          f"total {time.perf_counter() - start:.0f} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def queries() -> list[str]:
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def search_body(text: str, mode: str) -> dict:
    """A /search request; mode "default" sends none (the server's default answers)."""
    return {"query": text, "k": 10} | ({} if mode == "default" else {"mode": mode})


async def drive(base: str, texts: list[str], n: int, concurrency: int, mode: str = "default") -> tuple[list[float], int, float]:
    import httpx

    latencies: list[float] = []
    errors = 0
    counter = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        async def worker():
            nonlocal errors
            for i in counter:
                t0 = time.perf_counter()
                try:
                    resp = await client.post("/search", json=search_body(texts[i % len(texts)], mode))
                    ok = resp.status_code == 200
                except Exception:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += not ok

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return latencies, errors, wall


WRK_SCRIPT = r"""
local queries = {}
for line in io.lines(os.getenv("WRK_QUERIES")) do queries[#queries + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  return wrk.format(nil, "/search", nil, queries[(i % #queries) + 1])
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout
  io.write(string.format('WRK_JSON {"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, errors))
end
"""


def drive_wrk(base: str, texts: list[str], seconds: float, concurrency: int, mode: str = "default") -> dict:
    """wrk (C, one thread) as the client: far less CPU per request than a Python client on 2 shared cores."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        script, bodies = Path(tmp) / "search.lua", Path(tmp) / "queries.jsonl"
        script.write_text(WRK_SCRIPT, encoding="utf-8")
        bodies.write_text("".join(json.dumps(search_body(t, mode)) + "\n" for t in texts), encoding="utf-8")
        out = subprocess.run(
            ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "30s", "-s", str(script), base],
            capture_output=True, text=True, check=True, env={**os.environ, "WRK_QUERIES": str(bodies)},
        ).stdout
    line = next(row for row in out.splitlines() if row.startswith("WRK_JSON "))
    return json.loads(line.removeprefix("WRK_JSON "))


def run_one(index: Path, backend: str, n: int, concurrency: int, texts: list[str], client: str = "httpx",
            seconds: float = 30.0, extra: tuple[str, ...] = (), mode: str = "default") -> dict:
    import httpx
    import psutil

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "embedtune", "serve", str(index), "--port", str(port), "--backend", backend,
                             "--quiet", "--reload-poll", "0", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"server did not start: {proc.stderr.read() if proc.stderr else ''}")
        asyncio.run(drive(base, texts, 200, concurrency, mode))  # warm-up
        peak = {"rss": 0}
        stop = threading.Event()
        ps = psutil.Process(proc.pid)

        def sample():
            while not stop.is_set():
                peak["rss"] = max(peak["rss"], ps.memory_info().rss)
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        if client == "wrk":
            stats = drive_wrk(base, texts, seconds, concurrency, mode)
            stop.set()
            sampler.join()
            return {"index": index.name, "backend": backend, "mode": mode, "client": "wrk", "requests": stats["requests"],
                    "concurrency": concurrency, "qps": round(stats["requests"] / stats["seconds"], 1),
                    "p50_ms": round(stats["p50_ms"], 1), "p99_ms": round(stats["p99_ms"], 1),
                    "errors": stats["errors"], "peak_rss_mb": round(peak["rss"] / 2**20)}
        lat, errors, wall = asyncio.run(drive(base, texts, n, concurrency, mode))
        stop.set()
        sampler.join()
        ms = np.array(lat) * 1000
        return {"index": index.name, "backend": backend, "mode": mode, "client": "httpx", "requests": n, "concurrency": concurrency,
                "qps": round(n / wall, 1), "p50_ms": round(float(np.percentile(ms, 50)), 1),
                "p99_ms": round(float(np.percentile(ms, 99)), 1), "errors": errors,
                "peak_rss_mb": round(peak["rss"] / 2**20)}
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def load(args: argparse.Namespace) -> None:
    texts = queries()
    results = []
    client = args.client or ("wrk" if shutil.which("wrk") else "httpx")
    for index_name in args.indexes:
        for backend in args.backends:
            for concurrency in args.concurrency:
                for mode in args.modes:  # modes innermost: each pair is measured minutes apart at most
                    extra = ("--batch-wait-ms", str(args.batch_wait_ms)) if args.batch_wait_ms is not None else ()
                    result = run_one(DATA / index_name, backend, args.requests, concurrency, texts, client, args.seconds,
                                     extra, mode)
                    result["batch_wait_ms"] = args.batch_wait_ms
                    print(json.dumps(result), flush=True)
                    results.append(result)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("| index | backend | mode | client | requests | concurrency | QPS | p50 ms | p99 ms | errors | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['index']} | {r['backend']} | {r['mode']} | {r['client']} | {r['requests']:,} | {r['concurrency']} | "
              f"{r['qps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | {r['peak_rss_mb']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--backend", default="openvino")
    p.add_argument("--passages", type=int, default=N_PASSAGES)
    p.add_argument("--synthetic-vectors", action="store_true", help="random unit vectors instead of encoding (serving cost only)")
    p.add_argument("--ann-only", action="store_true", help="keep index-exact's vectors; re-measure recall on real queries, rebuild index-hnsw")
    p.set_defaults(func=prepare)
    p = sub.add_parser("load")
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, nargs="+", default=[32], help="one run per level (e.g. 1 8 32)")
    p.add_argument("--client", choices=["wrk", "httpx"], default=None, help="default: wrk when installed (apt install wrk)")
    p.add_argument("--seconds", type=float, default=30.0, help="wrk: duration of each run (wrk is time-bounded)")
    p.add_argument("--out", default="serve_load.json", help="results file under bench/out/")
    p.add_argument("--batch-wait-ms", type=float, default=None, help="passed to `embedtune serve` (default: its own)")
    p.add_argument("--indexes", nargs="+", default=["index-exact", "index-hnsw"])
    p.add_argument("--backends", nargs="+", default=["torch", "onnx-int8", "openvino"])
    p.add_argument("--modes", nargs="+", default=["default"], choices=["default", "dense", "lexical", "hybrid"],
                   help="search mode sent with each request (default: none, the server's default)")
    p.set_defaults(func=load)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
