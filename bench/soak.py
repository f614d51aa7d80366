"""Soak test: the real `embedtune serve` under 10,000 mixed good and bad requests at concurrency 32,
with an `embedtune index add` and a hot reload in the middle.

    /work/heavy .venv/bin/python bench/soak.py --requests 10000 --concurrency 32

It builds an exact index of the bundled help-center corpus (79 passages, the bundled base model),
starts `python -m embedtune serve` under uvicorn in a subprocess, and sends a seeded, shuffled mix:
searches (with and without filters), embeds and health checks that must answer 200, and bad requests
that must answer 4xx: a lone surrogate, `"k": "3"`, `"k": true`, `k` 0, a blank or missing query, an
unknown field, a 900 KB query, 65 texts to embed, broken JSON, a recsys call on a search index.
Half-way through, `embedtune index add` (a separate process) adds three passages; the server must
pick them up while answering. Passed means: every request answered, 0 good requests failed, every
bad one a 4xx (and none a 5xx), the added passages searchable after the reload, and the index
holding every passage. Results: bench/out/soak.json and a summary on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HELPCENTER = ROOT / "src" / "embedtune" / "examples" / "helpcenter"
OUT = ROOT / "bench" / "out"
NEW_PASSAGES = [
    {"_id": "soak-pigeon", "title": "Carrier pigeons", "text": "Notes can now be delivered by carrier pigeon to any loft.", "topic": "soak"},
    {"_id": "soak-lighthouse", "title": "Lighthouse mode", "text": "Lighthouse mode flashes your screen in Morse code when a note is shared.", "topic": "soak"},
    {"_id": "soak-volcano", "title": "Volcano backups", "text": "Backups are stored in a vault inside a dormant volcano.", "topic": "soak"},
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def embedtune(*args: str) -> list[str]:
    return [sys.executable, "-m", "embedtune", *args]


def request_mix(n: int, queries: list[str], seed: int) -> list[tuple[str, str, str, dict]]:
    """``(kind, label, path, httpx kwargs)``; kind is "good" (must be 200) or "bad" (must be 4xx)."""
    rng = random.Random(seed)
    huge = "x" * 900_000
    bad = [
        ("surrogate", "/search", {"content": '{"query": "a \\udc00 b"}'}),
        ("k-string", "/search", {"json": {"query": "refund", "k": "3"}}),
        ("k-bool", "/search", {"json": {"query": "refund", "k": True}}),
        ("k-zero", "/search", {"json": {"query": "refund", "k": 0}}),
        ("blank-query", "/search", {"json": {"query": "   "}}),
        ("no-query", "/search", {"json": {"k": 3}}),
        ("unknown-field", "/search", {"json": {"query": "refund", "limit": 3}}),
        ("broken-json", "/search", {"content": '{"query": "refund"'}),
        ("embed-surrogate", "/embed", {"content": '{"texts": ["fine", "\\ud800"]}'}),
        ("embed-too-many", "/embed", {"json": {"texts": ["t"] * 65}}),
        ("recommend-on-search-index", "/recommend", {"json": {"user_id": "u1"}}),
    ]
    out = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.30:
            if i % 500 == 0:  # a few huge bodies: they must be refused without being echoed
                out.append(("bad", "huge-query", "/search", {"json": {"query": huge}}))
            else:
                label, path, kwargs = rng.choice(bad)
                out.append(("bad", label, path, kwargs))
        elif roll < 0.80:
            body: dict = {"query": rng.choice(queries), "k": rng.randint(1, 10)}
            if rng.random() < 0.2:
                body["filters"] = {"topic": rng.choice(["account", "billing", "sync", "soak"])}
            out.append(("good", "search", "/search", {"json": body}))
        elif roll < 0.95:
            out.append(("good", "embed", "/embed", {"json": {"texts": rng.sample(queries, rng.randint(1, 3))}}))
        else:
            out.append(("good", "health", "/health", {}))
    return out


async def drive(base: str, mix: list, concurrency: int, halfway: asyncio.Event) -> list[dict]:
    results: list[dict] = []
    queue: asyncio.Queue = asyncio.Queue()
    for item in enumerate(mix):
        queue.put_nowait(item)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def worker() -> None:
            while True:
                try:
                    i, (kind, label, path, kwargs) = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                if i == len(mix) // 2:
                    halfway.set()
                headers = {"content-type": "application/json"} if "content" in kwargs else None
                start = time.perf_counter()
                try:
                    if path == "/health":
                        resp = await client.get(path)
                    else:
                        resp = await client.post(path, headers=headers, **kwargs)
                    status, size = resp.status_code, len(resp.content)
                except httpx.HTTPError as exc:
                    status, size = f"{type(exc).__name__}", 0
                results.append({"i": i, "kind": kind, "label": label, "status": status, "bytes": size,
                                "ms": (time.perf_counter() - start) * 1000, "t": time.perf_counter()})

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def add_midway(index: Path, corpus: Path, base: str, halfway: asyncio.Event) -> dict:
    await halfway.wait()
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(*embedtune("index", "add", str(index), "--corpus", str(corpus), "-q"),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    added_at = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while True:
            health = (await client.get("/health")).json()
            if health["reloads"] >= 1 or time.perf_counter() - added_at > 60:
                break
            await asyncio.sleep(0.05)
    return {"returncode": proc.returncode, "stdout": out.decode().strip(), "stderr": err.decode().strip()[-500:],
            "add_seconds": round(added_at - started, 2), "reload_seconds_after_add": round(time.perf_counter() - added_at, 2),
            "reloaded": health["reloads"] >= 1, "documents_after": health["documents"], "added_at": added_at}


async def soak(args: argparse.Namespace, work: Path) -> dict:
    index = work / "index"
    build = subprocess.run(embedtune("index", "build", "-m", "all-MiniLM-L6-v2", "--corpus", str(HELPCENTER),
                                     "-o", str(index), "--ann", "none", "-q"), capture_output=True, text=True)
    if build.returncode:
        raise SystemExit(build.stderr)
    new_corpus = work / "new.jsonl"
    new_corpus.write_text("".join(json.dumps(p) + "\n" for p in NEW_PASSAGES), encoding="utf-8")
    queries = [json.loads(line)["text"] for line in (HELPCENTER / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(embedtune("serve", str(index), "--port", str(port), "--reload-poll", "0.5", "-q"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise SystemExit(f"the server did not start: {server.stderr.read() if server.stderr else ''}")
            time.sleep(0.2)
        before = httpx.get(f"{base}/health").json()["documents"]
        mix = request_mix(args.requests, queries, args.seed)
        halfway = asyncio.Event()
        started = time.perf_counter()
        results, add = await asyncio.gather(drive(base, mix, args.concurrency, halfway), add_midway(index, new_corpus, base, halfway))
        seconds = time.perf_counter() - started
        found = {}
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for passage in NEW_PASSAGES:
                hits = (await client.post("/search", json={"query": passage["text"], "k": 1})).json()["results"]
                found[passage["_id"]] = bool(hits) and hits[0]["id"] == passage["_id"]
            final = (await client.get("/health")).json()
    finally:
        server.terminate()
        try:
            _, server_err = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            _, server_err = server.communicate()

    good = [r for r in results if r["kind"] == "good"]
    bad = [r for r in results if r["kind"] == "bad"]
    after_reload = [r for r in good if r["t"] > add["added_at"]]
    latencies = np.array([r["ms"] for r in good])
    report = {
        "requests": args.requests, "concurrency": args.concurrency, "seed": args.seed,
        "answered": len(results), "seconds": round(seconds, 1), "requests_per_second": round(len(results) / seconds, 1),
        "good": len(good), "good_failed": sum(r["status"] != 200 for r in good),
        "good_answered_after_the_add": len(after_reload),
        "bad": len(bad), "bad_not_4xx": sum(not (isinstance(r["status"], int) and 400 <= r["status"] < 500) for r in bad),
        "server_errors_5xx": sum(isinstance(r["status"], int) and r["status"] >= 500 for r in results),
        "connection_errors": sum(not isinstance(r["status"], int) for r in results),
        "statuses_by_label": {label: dict(Counter(str(r["status"]) for r in results if r["label"] == label))
                              for label in sorted({r["label"] for r in results})},
        "largest_error_body_bytes": max((r["bytes"] for r in bad), default=0),
        "good_latency_ms": {"p50": round(float(np.percentile(latencies, 50)), 1), "p99": round(float(np.percentile(latencies, 99)), 1)},
        "index_add": {k: v for k, v in add.items() if k != "added_at"},
        "documents_before": before, "documents_after": final["documents"],
        "added_passages_found_top1": found,
        "server_stderr_lines": len([line for line in server_err.splitlines() if line.strip()]),
        "server_tracebacks": server_err.count("Traceback"),
    }
    report["passed"] = (
        report["answered"] == args.requests and report["good_failed"] == 0 and report["bad_not_4xx"] == 0
        and report["server_errors_5xx"] == 0 and add["returncode"] == 0 and add["reloaded"]
        and report["good_answered_after_the_add"] > 0
        and final["documents"] == before + len(NEW_PASSAGES) and all(found.values())
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT / "soak.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="embedtune-soak-") as tmp:
        report = asyncio.run(soak(args, Path(tmp)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    sys.exit(0 if report["passed"] else 1)


if __name__ == "__main__":
    main()
