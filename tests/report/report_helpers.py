"""Helpers for the report tests: tiny data with a script tag, and fake evaluation folders.

The fake evaluations go through the real :func:`embedtune.eval.write_eval` with fixed rankings, so
they have exactly the files an ``embedtune eval --output`` folder has, without loading a model.
"""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

from embedtune.data import Document
from embedtune.data.beir import load_retrieval_split
from embedtune.eval.bootstrap import compare
from embedtune.eval.evaluate import EvalResult, SystemResult, _chance, write_eval
from embedtune.metrics import RECSYS_METRICS, RETRIEVAL_METRICS, compute_metrics, mean_metrics

SCRIPT = "<script>alert(1)</script>"
XSS_DOC = Document(id="security-3", title="Scripts <b>in</b> notes",
                   text=f"A note that contains {SCRIPT} shows the tag as text and never runs it.")
XSS_QUERY = ("q-security-3", f"Does {SCRIPT} in a note run?")


def _make_tiny_beir(folder: Path) -> Path:
    # tests/conftest.py's builder, loaded by path: the name "conftest" is ambiguous across folders.
    spec = importlib.util.spec_from_file_location("_tests_root_conftest", Path(__file__).parents[1] / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_tiny_beir(folder)


def make_report_beir(folder: Path) -> Path:
    """The shared tiny BEIR data plus a passage and a test query holding a script tag."""
    data = _make_tiny_beir(folder)
    with (data / "corpus.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"_id": XSS_DOC.id, "title": XSS_DOC.title, "text": XSS_DOC.text}) + "\n")
    with (data / "queries.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"_id": XSS_QUERY[0], "text": XSS_QUERY[1]}) + "\n")
    with (data / "qrels" / "test.tsv").open("a", encoding="utf-8") as fh:
        fh.write(f"{XSS_QUERY[0]}\t{XSS_DOC.id}\t1\n")
    return data


def fake_eval_dir(data: Path, out: Path, rankings: dict[str, dict[str, list[str]]], split: str = "test") -> Path:
    """Write an eval folder for fixed rankings (``{system: {qid: [doc ids]}}``; ``model`` first)."""
    ret = load_retrieval_split(data, split)
    spec = RECSYS_METRICS if ret.kind == "recsys" else RETRIEVAL_METRICS
    systems = {}
    for name, ranked in rankings.items():
        per_query = {q: compute_metrics(ranked.get(q, []), ret.relevant(q), spec) for q in ret.query_ids}
        run = {q: [(d, 1.0 - i / 100) for i, d in enumerate(ranked.get(q, []))] for q in ret.query_ids}
        systems[name] = SystemResult(name, f"{name} (fixed ranking)", mean_metrics(per_query), per_query, run, 0.0)
    qids = ret.query_ids
    comparisons = [
        compare("model", name, "ndcg@10", [systems["model"].per_query[q]["ndcg@10"] for q in qids],
                [systems[name].per_query[q]["ndcg@10"] for q in qids], n_resamples=1000)
        for name in systems if name != "model"
    ]
    slices = {}
    if ret.kind == "recsys":
        slices = {"history_length": {v: {"n_queries": len(qids), **{n: {"ndcg@10": s.metrics["ndcg@10"],
                                                                         "recall@10": s.metrics["recall@10"]}
                                                                     for n, s in systems.items()}}
                                     for v in ("1-5", "6+")}}
    result = EvalResult(str(data), ret, spec, systems, comparisons, _chance(ret), slices, ["a warning <i>here</i>"])
    write_eval(result, out)
    return out


def shuffled_rankings(data: Path, seed: int, split: str = "test") -> dict[str, list[str]]:
    ret = load_retrieval_split(data, split)
    docs = sorted(ret.corpus)
    rng = random.Random(seed)
    return {q: rng.sample(docs, len(docs)) for q in ret.query_ids}
