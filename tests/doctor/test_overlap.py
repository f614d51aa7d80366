"""Eval text that is also training text, exact and near."""

from __future__ import annotations

from embedtune.data import Pair
from embedtune.doctor import (
    diagnose,
)
from tests.doctor.conftest import (
    WORDS,
    clean_pairs,
    only,
    split_of,
)


def test_eval_queries_in_training_are_an_error_near_copies_a_warning():
    pairs = clean_pairs()
    split = split_of(
        {
            "copy": "how do i  Reset the printer?",  # exact after normalization
            "near": "How do I reset the printer and the dashboard settings quickly today",  # near
            "new": "Why is the battery draining overnight?",
        },
        {
            "d1": pairs[0].positive,
            "d2": "Background refresh keeps the radio awake.",
            "d3": "Other text entirely.",
        },
        {"copy": "d1", "near": "d2", "new": "d3"},
    )
    pairs.append(
        Pair("How do I reset the printer and the dashboard settings quickly now", "A different answer here.")
    )
    report = diagnose(pairs, eval_splits=[split], tokenizer=WORDS, batch_size=32)

    exact = [f for f in report.by_code("eval_overlap_exact") if f.details["side"] == "queries"]
    assert len(exact) == 1 and exact[0].severity == "error"
    assert exact[0].details["n_overlap"] == 1 and exact[0].details["n_same_pair"] == 1
    assert exact[0].details["examples"][0]["query_id"] == "copy"
    assert "1 of 3 test queries" in exact[0].message
    assert report.has_errors

    near = [f for f in report.by_code("eval_overlap_near") if f.details["side"] == "queries"]
    assert len(near) == 1 and near[0].severity == "warning"
    assert near[0].details["examples"][0]["query_id"] == "near"
    assert near[0].details["examples"][0]["jaccard"] >= 0.8

    docs = [f for f in report.by_code("eval_overlap_exact") if f.details["side"] == "documents"]
    assert len(docs) == 1 and docs[0].severity == "warning"
    assert docs[0].details["examples"][0]["doc_id"] == "d1"
    # In recommendation the catalog is shared by design: the same overlap is only a note.
    split.kind = "recsys"
    recsys = diagnose(pairs, eval_splits=[split], tokenizer=WORDS, batch_size=32)
    docs = [f for f in recsys.by_code("eval_overlap_exact") if f.details["side"] == "documents"]
    assert len(docs) == 1 and docs[0].severity == "info"
    # Errors come first.
    assert report.findings[0].severity == "error"


def test_a_small_share_of_eval_queries_in_training_is_a_warning():
    pairs = clean_pairs()
    queries = {f"q{k}": f"Why does error code {k} appear on the screen at start?" for k in range(150)}
    queries["q0"] = pairs[5].anchor  # 1 of 150 (0.7%), as in SciFact's test split
    split = split_of(queries, {"d": "Error codes are listed in the manual."}, dict.fromkeys(queries, "d"))
    finding = only(diagnose(pairs, eval_splits=[split], tokenizer=WORDS), "eval_overlap_exact")
    assert finding.severity == "warning" and finding.details["n_overlap"] == 1
