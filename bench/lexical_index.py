"""An index's lexical part at 100,000 passages: what keeping it in step costs, and what a hybrid query adds.

    nice -n 10 .venv/bin/python bench/serve_load.py prepare --synthetic-vectors   # the 100k corpus + index-exact
    nice -n 10 .venv/bin/python bench/lexical_index.py

Everything in one process on one thread (run it under /work/heavy). Measured:

- **build**: tokenising the corpus (``index build`` pays it once; ``index add`` only for new documents)
  and building the BM25 matrix from the kept tokens (every save after an add or delete pays this);
- **updates**: ``index add`` of 100 documents and ``index delete`` of 100 ids on the 100k index,
  end to end as the CLI runs them (load, update, save; the add with a stand-in encoder, so the
  figure is the index's cost, not the model's), beside the same save without a lexical part;
- **per query** (SciFact claims): dense exact top-10 and top-100, lexical top-100 with bm25s's numpy
  scorer and with its numba scorer, and the fusion (ranx) of the two top-100 lists.

Results go to bench/out/lexical_index.json and a Markdown table on stdout.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from serve_load import DATA, OUT, queries  # noqa: E402


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    """Median seconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def per_query_ms(fn, items) -> dict[str, float]:
    ms = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        ms.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


class RandomEncoder:
    """Unit vectors in place of a model: `index add` is timed for the index's work only."""

    backend = "torch"

    def __init__(self, dim: int):
        self.dim = dim

    def encode(self, texts, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        v = np.random.default_rng(len(texts)).standard_normal((len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def main() -> None:
    from embedtune import bm25
    from embedtune.fusion import DEFAULT_FUSION, fuse_runs
    from embedtune.index import VectorIndex, add_to_index, delete_from_index, read_index_corpus
    from embedtune.index.lexical import LexicalIndex

    source = DATA / "index-exact"
    corpus = read_index_corpus(DATA / "corpus.jsonl")
    texts = [d.full_text for d in corpus.docs]
    out: dict[str, object] = {"documents": len(texts)}

    out["tokenize_s"], lexical = timed(lambda: LexicalIndex.from_texts(texts))
    alive = np.ones(len(texts), dtype=bool)
    out["rebuild_from_tokens_s"], _ = timed(lambda: lexical.build(alive), repeat=3)
    out["tokens"], out["terms"] = int(len(lexical.tokens)), len(lexical.vocab)

    with tempfile.TemporaryDirectory(dir=DATA) as tmp:
        work = Path(tmp) / "index"
        shutil.copytree(source, work)
        index = VectorIndex.load(work)
        assert index.lexical is not None, "prepare the index with this version (bench/serve_load.py prepare)"
        out["load_s"], _ = timed(lambda: VectorIndex.load(work), repeat=3)
        out["save_s"], _ = timed(lambda: index.save(work), repeat=3)  # lexical part unchanged: no rebuild
        lex_dir = work / "bm25"
        out["lexical_folder_mb"] = round(sum(p.stat().st_size for p in lex_dir.iterdir()) / 2**20, 1)
        out["vectors_folder_mb"] = round(sum(p.stat().st_size for p in work.rglob("*") if p.is_file()) / 2**20, 1)

        new = Path(tmp) / "new.jsonl"
        new.write_text("".join(json.dumps({"_id": f"new-{i}", "title": "New", "text": texts[i]}) + "\n" for i in range(100)),
                       encoding="utf-8")
        encoder = RandomEncoder(index.dim)
        out["add_100_s"], _ = timed(lambda: add_to_index(work, new, encoder=encoder, show_progress=False))
        ids = [d.id for d in corpus.docs[1000:1100]]
        out["delete_100_s"], _ = timed(lambda: delete_from_index(work, ids))

        index = VectorIndex.load(work)
        texts_q = queries()[:300]
        from embedtune.encoders import load_encoder

        vectors = load_encoder(index.manifest.model, "torch").encode(texts_q)
        pairs = list(zip(texts_q, vectors, strict=True))
        index.id_order()
        out["dense_top10"] = per_query_ms(lambda p: index.dense_rows(p[1], k=10), pairs)
        out["dense_top100"] = per_query_ms(lambda p: index.dense_rows(p[1], k=100), pairs)
        out["tokenize_query"] = per_query_ms(lambda p: bm25.tokenize([p[0]]), pairs)
        out["lexical_top100_numpy"] = per_query_ms(lambda p: index.lexical_rows([p[0]], k=100), pairs)
        ranked = [(index.dense_rows(v, k=100)[0], index.lexical_rows([q], k=100)[0]) for q, v in pairs]

        def as_run(rows, scores):
            return {"q": [(index.ids[r], float(s)) for r, s in zip(rows, scores, strict=True)]}

        def fuse(pair):
            dense, lexical = pair
            fuse_runs(DEFAULT_FUSION, {"model": as_run(*dense), "bm25": as_run(*lexical)}, k=10)

        fuse(ranked[0])  # numba compilation
        out["fuse_two_top100"] = per_query_ms(fuse, ranked)
        from embedtune.index.hybrid import hybrid_search

        out["hybrid_search"] = per_query_ms(lambda p: hybrid_search(index, [p[0]], p[1], 10, DEFAULT_FUSION), pairs)
        out["dense_search"] = per_query_ms(lambda p: index.search(p[1], k=10), pairs)
        retriever = index.lexical.retriever
        retriever.activate_numba_scorer()
        index.lexical_rows([texts_q[0]], k=100)  # numba compilation
        out["lexical_top100_numba"] = per_query_ms(lambda p: index.lexical_rows([p[0]], k=100), pairs)

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lexical_index.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
