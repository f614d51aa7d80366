"""Texts longer than max_seq_length, measured with the real tokenizer."""

from __future__ import annotations

from embedtune.data import Pair
from embedtune.doctor import (
    diagnose,
)
from tests.doctor.conftest import (
    VERBS,
    only,
)


def test_long_positives_are_measured_with_the_real_tokenizer(minilm_tokenizer):
    long_text = " ".join(f"word{k} alpha beta" for k in range(80))  # ~360 word pieces
    pairs = [Pair(f"How do I {v} item {i}?", long_text + f" end {v} {i}") for i, v in enumerate(VERBS * 9)]
    report = diagnose(pairs, max_seq_length=256, batch_size=32, tokenizer=minilm_tokenizer)
    finding = only(report, "long_texts")
    assert finding.details["column"] == "positive"
    assert finding.details["share"] == 1.0 and finding.details["p50"] > 256
    assert report.stats["positive_truncated_share"] == 1.0
    assert report.stats["anchor_truncated_share"] == 0.0
    assert 5 < report.stats["anchor_tokens"]["p50"] < 20
    # The same data with room for every token is fine.
    assert diagnose(pairs, max_seq_length=512, tokenizer=minilm_tokenizer).by_code("long_texts") == []
