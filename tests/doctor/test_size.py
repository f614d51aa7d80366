"""Too few pairs for in-batch negatives."""

from __future__ import annotations

from embedtune.doctor import (
    diagnose,
)
from tests.doctor.conftest import (
    WORDS,
    clean_pairs,
    only,
)


def test_too_few_pairs_warns_with_numbers():
    report = diagnose(clean_pairs()[:10], tokenizer=WORDS, batch_size=32)
    finding = only(report, "too_few_pairs")
    assert finding.severity == "warning"
    assert "10 training pairs" in finding.message and "64" in finding.message
    assert diagnose(clean_pairs()[:64], tokenizer=WORDS, batch_size=32).by_code("too_few_pairs") == []
