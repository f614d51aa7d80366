"""Batch embedding throughput: `embedtune embed` locally vs on a local Ray instance, same texts, same run.

    /work/heavy .venv/bin/python bench/embed_scale.py --n 1000 --backends torch openvino

Texts: the first N SciFact abstracts (title + abstract, ~250 tokens: real corpus documents, not
sentences). Each configuration embeds the same shards into a fresh folder; the Ray runs start a local
Ray instance with ``--ray-cpus`` CPUs and ``--workers`` single-thread actors. Reported per run: wall
seconds including model load (and, for Ray, cluster start), documents/s, documents/s per worker, and
the max |difference| of the vectors from the local run of the same backend. Under /work/heavy every
encoder runs on one thread, so "per worker" is per CPU core.

``--full-corpus-output DIR`` finally embeds the whole SciFact corpus with the first backend (local) into
DIR: the real vectors bench/pgvector.py replicates for its store and ANN measurements.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from embedtune.embed import embed_corpus, iter_embeddings

SCIFACT = Path("/work/shared/data/scifact")


def vectors(out: Path) -> np.ndarray:
    return np.concatenate([v for _d, v in iter_embeddings(out)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000, help="SciFact documents to embed per run")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--backends", nargs="+", default=["torch", "openvino"])
    parser.add_argument("--shard-rows", type=int, default=250)
    parser.add_argument("--workers", type=int, default=1, help="Ray actors (1 thread each)")
    parser.add_argument("--ray-cpus", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/out/embed_scale"))
    parser.add_argument("--full-corpus-output", type=Path, default=None)
    args = parser.parse_args()

    import ray

    args.out.mkdir(parents=True, exist_ok=True)
    corpus = args.out / "corpus.jsonl"
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as src, corpus.open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i == args.n:
                break
            dst.write(line)
    rows = []
    for backend in args.backends:
        reference = None
        for engine in ("local", "ray"):
            out = args.out / f"{engine}-{backend}"
            shutil.rmtree(out, ignore_errors=True)
            start = time.perf_counter()
            if engine == "ray":
                ray.init(num_cpus=args.ray_cpus, include_dashboard=False, log_to_driver=False)
            try:
                result = embed_corpus(args.model, corpus, out, engine=engine, backend=backend, threads=1,
                                      workers=args.workers if engine == "ray" else None,
                                      shard_rows=args.shard_rows, show_progress=False)
            finally:
                if engine == "ray":
                    ray.shutdown()
            wall = time.perf_counter() - start
            got = vectors(out)
            reference = got if reference is None else reference
            n_workers = args.workers if engine == "ray" else 1
            row = {"engine": engine, "backend": result.manifest.backend, "documents": result.documents,
                   "workers": n_workers, "wall_s": round(wall, 1), "embed_s": round(result.seconds, 1),
                   "docs_per_s": round(result.documents / wall, 2),
                   "docs_per_s_per_worker": round(result.documents / wall / n_workers, 2),
                   "max_abs_diff_vs_local": float(np.abs(got - reference).max())}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.full_corpus_output:
        start = time.perf_counter()
        result = embed_corpus(args.model, SCIFACT / "corpus.jsonl", args.full_corpus_output, backend=args.backends[0],
                              threads=1, shard_rows=1000, show_progress=False)
        row = {"engine": "local", "backend": result.manifest.backend, "documents": result.documents,
               "workers": 1, "wall_s": round(time.perf_counter() - start, 1),
               "docs_per_s": round(result.documents / (time.perf_counter() - start), 2), "full_corpus": str(args.full_corpus_output)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
