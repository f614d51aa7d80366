"""Repeated anchors, positives, rows and corpus documents."""

from __future__ import annotations

from embedtune.data import Document, Pair
from embedtune.doctor import (
    diagnose,
)
from tests.doctor.conftest import (
    WORDS,
    clean_pairs,
    clean_split,
    only,
)


def test_repeated_positive_beyond_batches_warns_and_exact_repeats_are_flagged():
    pairs = clean_pairs()
    # One passage is the answer to 10 different questions, but an epoch of 80 rows has only 2 batches of 32.
    hub = "Contact support through the chat bubble in the lower right corner."
    pairs = [Pair(p.anchor, hub) if i % 8 == 0 else p for i, p in enumerate(pairs)]
    pairs += [pairs[1], pairs[2]]  # two rows repeated verbatim
    report = diagnose(pairs, tokenizer=WORDS, batch_size=32)

    positives = only(report, "duplicate_positives")
    assert positives.severity == "warning"
    assert positives.details["max_rows_per_text"] == 10
    assert positives.details["rows_beyond_batches"] == 10 - 2
    assert positives.details["expected_collisions_per_random_batch"] > 1
    assert "no-duplicates batch sampler" in positives.message
    assert positives.details["examples"][0]["text"] == hub

    rows = only(report, "duplicate_pairs")
    assert rows.details["n_repeated_rows"] == 2
    # The repeated rows also repeat their anchors, but only twice: a note, not a warning.
    assert only(report, "duplicate_anchors").severity == "info"


def test_duplicate_texts_are_matched_after_case_and_whitespace_normalization():
    pairs = clean_pairs()
    pairs.append(Pair("  how do I RESET the   printer? ", pairs[0].positive))
    report = diagnose(pairs, tokenizer=WORDS, batch_size=32)
    assert only(report, "duplicate_pairs").details["n_repeated_rows"] == 1


def test_duplicate_documents_in_eval_corpus():
    split = clean_split()
    split.corpus["d1-copy"] = Document(id="d1-copy", text=split.corpus["d1"].text.upper())
    report = diagnose(clean_pairs(), eval_splits=[split], tokenizer=WORDS)
    finding = only(report, "duplicate_documents")
    assert finding.details["n_duplicate_documents"] == 1
    assert sorted(finding.details["examples"][0]["doc_ids"]) == ["d1", "d1-copy"]
