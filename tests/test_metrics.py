"""Metrics match hand-computed values and sentence-transformers' InformationRetrievalEvaluator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from embedtune.data import load_retrieval_split
from embedtune.eval import compute_metrics, evaluate, top_k_from_scores
from embedtune.metrics import RECSYS_METRICS, metric_at_k_curve


def test_hand_computed_ranking():
    # relevant at ranks 2 and 4 out of 3 relevant documents
    m = compute_metrics(["a", "r1", "b", "r2", "c"], {"r1", "r2", "r3"})
    assert m["accuracy@1"] == 0 and m["accuracy@3"] == 1
    assert m["precision@3"] == pytest.approx(1 / 3) and m["recall@5"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == pytest.approx(0.5)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@10"] == pytest.approx(dcg / idcg)
    assert m["map@100"] == pytest.approx((1 / 2 + 2 / 4) / 3)


def test_no_hit_and_recsys_aliases():
    m = compute_metrics(["x"] * 3, {"r"}, RECSYS_METRICS)
    assert m["ndcg@10"] == 0 and m["mrr@100"] == 0 and m["hit@50"] == 0 and m["recall@50"] == 0
    assert compute_metrics(["r"], {"r"}, RECSYS_METRICS)["hit@1"] == 1.0


def test_top_k_breaks_ties_by_doc_id_and_respects_exclusions():
    scores = np.array([[0.5, 0.9, 0.5, 0.5, 0.1]])
    run = top_k_from_scores(scores, ["q"], ["d", "a", "c", "b", "e"], 3)
    assert [d for d, _ in run["q"]] == ["a", "b", "c"]
    run = top_k_from_scores(scores, ["q"], ["d", "a", "c", "b", "e"], 3, {"q": {"a", "b"}})
    assert [d for d, _ in run["q"]] == ["c", "d", "e"]


def test_curves():
    rankings = {"q": ["x", "r"]}
    assert metric_at_k_curve(rankings, {"q": {"r"}}, "recall", [1, 2]) == [0.0, 1.0]


def test_equal_to_sentence_transformers_evaluator(tiny_beir, base_model):
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    # Evaluate on every query of the tiny set, so rankings are not trivially perfect.
    for split_name in ("train", "test"):
        split = load_retrieval_split(tiny_beir, split_name)
        st = InformationRetrievalEvaluator(
            queries={q: split.queries[q] for q in split.query_ids},
            corpus={d: doc.full_text for d, doc in split.corpus.items()},
            relevant_docs={q: split.relevant(q) for q in split.query_ids},
            name="x",
            write_csv=False,
        )(base_model)
        ours = evaluate("all-MiniLM-L6-v2", tiny_beir, split_name, baselines=False, use_cache=False,
                        loaded_model=base_model).systems["model"].metrics
        for key in ("accuracy@1", "accuracy@3", "precision@3", "recall@1", "recall@5", "ndcg@10", "mrr@10", "map@100"):
            assert ours[key] == pytest.approx(st[f"x_cosine_{key}"], abs=1e-9), key


def test_vectorised_metrics_equal_the_per_query_definitions():
    from embedtune.metrics import RETRIEVAL_METRICS, per_query_metrics

    rng = np.random.default_rng(0)
    docs = [f"d{i}" for i in range(40)]
    rankings = {f"q{i}": list(rng.permutation(docs)[: rng.integers(0, 40)]) for i in range(50)}
    relevant = {q: set(rng.choice(docs, size=rng.integers(1, 6), replace=False)) for q in rankings}
    for spec in (RETRIEVAL_METRICS, RECSYS_METRICS):
        together = per_query_metrics(rankings, relevant, spec)
        for q in rankings:
            hits = [1 if d in relevant[q] else 0 for d in rankings[q]]
            alone = together[q]
            first = next((i for i, h in enumerate(hits) if h), None)
            assert alone["mrr@10"] == (0.0 if first is None or first >= 10 else 1 / (first + 1))
            assert alone["recall@10"] == pytest.approx(sum(hits[:10]) / len(relevant[q]))
            dcg = sum(h / math.log2(i + 2) for i, h in enumerate(hits[:10]))
            idcg = sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant[q]))))
            assert alone["ndcg@10"] == pytest.approx(dcg / idcg)
            assert alone == compute_metrics(rankings[q], relevant[q], spec)
