"""BM25 over documents plus their training queries: a baseline of its own, and the hybrid's lexical part only
where the dev split says the hybrid is better with it (fusion.json's ``expansion``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedtune.data.records import Document, RetrievalSplit
from embedtune.eval import evaluate
from embedtune.eval.hybrid import HYBRID, _choose_expansion
from embedtune.eval.systems import EXPANDED_BM25, BM25System
from embedtune.fusion import DEFAULT_FUSION, FusionSpec, LexicalExpansion, choose_fusion

DOCS = {f"d{i}": Document(id=f"d{i}", text=text) for i, text in enumerate(
    ["Open Settings and choose Billing.", "Sync pauses offline.", "Export the workspace as Markdown."])}


def split(queries: dict[str, str], qrels: dict[str, dict[str, int]], name: str = "dev") -> RetrievalSplit:
    return RetrievalSplit(name, DOCS, queries, qrels)


def test_expanded_bm25_matches_words_only_its_training_queries_hold():
    dev = split({"q": "replace my credit card"}, {"q": {"d0": 1}})
    plain = BM25System().rank(dev, 3)["q"]
    expanded_system = BM25System(expansions={"d0": ["how do I change the credit card"]})
    expanded = expanded_system.rank(dev, 3)["q"]
    assert {s for _, s in plain} == {0.0}  # no word of the query is in any document
    assert expanded[0][0] == "d0" and expanded[0][1] > 0 and expanded_system.name == EXPANDED_BM25
    assert "plus the training queries that judge it (1 judgments, 1 documents)" in expanded_system.description
    assert BM25System().name == "bm25"


class FixedRun:
    """A ranking system that returns a fixed run, with the expansions a BM25System would hold."""

    def __init__(self, run, expansions):
        self.run, self.expansions = run, expansions

    def rank(self, split, k):
        return self.run


@pytest.mark.parametrize("helps", [True, False])
def test_the_expansion_is_chosen_only_when_the_dev_hybrid_is_better_with_it(helps: bool):
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(3)}
    # the dense part finds q0's document only; plain BM25 nothing; the expanded one all three (or none)
    dense = {"q0": [("d0", 0.9), ("d1", 0.5), ("d2", 0.1)], "q1": [("d0", 0.9), ("d2", 0.5), ("d1", 0.1)],
             "q2": [("d0", 0.9), ("d1", 0.5), ("d2", 0.1)]}
    plain_bm25 = {q: [("d1", 2.0), ("d2", 1.0), ("d0", 0.5)] if q != "q1" else [("d2", 2.0), ("d0", 1.0), ("d1", 0.5)]
                  for q in qrels}
    good = {q: [(f"d{i}", 3.0), *((d, 0.1) for d in DOCS if d != f"d{i}")] for i, q in enumerate(qrels)}
    expanded = FixedRun(good if helps else plain_bm25, {"d0": ["a", "b"], "d1": ["c"]})
    dev = split({q: q for q in qrels}, qrels)
    plain = {HYBRID: choose_fusion({"model": dense, "bm25": plain_bm25}, qrels, split="dev")}
    chosen = _choose_expansion(plain, expanded, {"model": dense}, dev, qrels, {HYBRID: "model"}, Path("data"), 100,
                               ("zmuv", "min-max"), DEFAULT_FUSION)[HYBRID]
    if helps:
        assert chosen.expansion == LexicalExpansion(queries=3, documents=2, dev_plain=plain[HYBRID].dev_metric["hybrid"])
        assert chosen.dev_metric["hybrid"] > plain[HYBRID].dev_metric["hybrid"] and "dev hybrid" in chosen.note
    else:  # level on dev: plain BM25 stays (the expanded one must do strictly better)
        assert chosen.expansion is None and chosen.weights == plain[HYBRID].weights
        assert "plain BM25 kept" in chosen.note


def test_fusion_json_round_trips_the_expansion(tmp_path: Path):
    spec = DEFAULT_FUSION.model_copy(update={"expansion": LexicalExpansion(queries=5, documents=4, dev_plain=0.5),
                                             "default": False, "rule": "tuned"})
    assert FusionSpec.load(spec.save(tmp_path / "fusion.json")) == spec
    assert FusionSpec.load(DEFAULT_FUSION.save(tmp_path / "plain.json")).expansion is None


def test_a_given_expanded_fusion_falls_back_to_plain_bm25_without_training_queries(tiny_beir: Path, base_model,
                                                                                  tmp_path: Path):
    (tiny_beir / "qrels" / "train.tsv").unlink()  # no training queries: nothing to expand with
    given = DEFAULT_FUSION.model_copy(update={"expansion": LexicalExpansion(queries=9, documents=9)})
    result = evaluate("all-MiniLM-L6-v2", tiny_beir, "test", loaded_model=base_model, n_resamples=200,
                      use_cache=False, fusion=given)
    assert EXPANDED_BM25 not in result.systems
    spec = result.fusions[HYBRID]
    assert spec.expansion is None and "plain BM25 here" in spec.note
