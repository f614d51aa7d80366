"""Queries that contain their positive (training) or their relevant document (eval)."""

from __future__ import annotations

from embedtune.data import Document, Pair, RetrievalSplit
from embedtune.doctor import (
    diagnose,
)
from tests.doctor.conftest import (
    WORDS,
    clean_pairs,
    only,
)


def test_eval_profiles_containing_the_predicted_item_are_flagged():
    items = {
        f"i{k}": f"Item {name}"
        for k, name in enumerate(["Red Running Shoes", "Blue Denim Jacket", "Steel Water Bottle"])
    }
    corpus = {
        k: Document(id=k, title=v.removeprefix("Item "), text="Category: outdoor") for k, v in items.items()
    }
    queries = {
        "u1": "Recently bought: Red Running Shoes, Blue Denim Jacket",  # contains its target i0: leak
        "u2": "Recently bought: Steel Water Bottle",  # target i1 is not in the profile
    }
    split = RetrievalSplit("test", corpus, queries, {"u1": {"i0": 1}, "u2": {"i1": 1}}, kind="recsys")
    finding = only(diagnose(clean_pairs(), eval_splits=[split], tokenizer=WORDS), "query_contains_positive")
    assert finding.details["split"] == "test"
    assert finding.details["n_hits"] == 1 and finding.details["examples"][0]["query_id"] == "u1"
    assert finding.severity == "warning"


def test_anchor_containing_its_positive_and_copied_queries():
    pairs = clean_pairs()
    for i in range(0, 10):  # the seed template: the query is the passage itself
        pairs[i] = Pair(f"Summarize: {pairs[i].positive}", pairs[i].positive)
    copied = "the quarterly report lists every invoice that was paid late by more than thirty days"
    pairs[10] = Pair(copied.capitalize() + ".", f"Reports. {copied.capitalize()}. It is mailed on Mondays.")
    report = diagnose(pairs, tokenizer=WORDS, batch_size=32)
    finding = only(report, "query_contains_positive")
    assert finding.severity == "warning"
    assert finding.details["n_anchor_contains_positive"] == 10
    assert finding.details["n_positive_contains_anchor"] == 1
    assert finding.details["examples"][0]["anchor"].startswith("Summarize:")
    assert "11 of 80 training pairs" in finding.message


def test_short_keyword_query_found_in_its_passage_is_normal():
    pairs = clean_pairs()
    pairs[0] = Pair("printer reset", "To do a printer reset hold the power button for ten seconds.")
    assert diagnose(pairs, tokenizer=WORDS).by_code("query_contains_positive") == []
