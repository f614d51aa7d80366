"""Duplicate passages are merged, keeping every URL they were found at."""

from __future__ import annotations

from embedtune.site.chunk import Passage
from embedtune.site.dedupe import dedupe_passages

CONTACT = "Questions about your account? Write to support and a person from the team answers within one working day."
REFUND = (
    "Annual plans can be refunded in full within thirty days of purchase by writing to the billing team, "
    "who will confirm the refund by email and return the money to the original payment card within a week."
)


def test_exact_copies_on_many_pages_become_one_passage_with_all_urls():
    passages = [Passage(f"p{i}", "Contact", CONTACT, url=f"https://s/page{i}") for i in range(4)]
    kept, report = dedupe_passages(passages)
    assert len(kept) == 1 and report.exact == 3
    assert kept[0].urls == [f"https://s/page{i}" for i in range(4)]
    assert kept[0].url == "https://s/page0"


def test_near_duplicates_are_merged_and_different_passages_kept():
    near = REFUND.replace("within a week", "within one week")
    other = "Inkpad Pro costs four dollars a month and removes the device limit and the attachment limit for good."
    passages = [
        Passage("a", "Refunds", REFUND, url="https://s/pricing"),
        Passage("b", "Other", other, url="https://s/pro"),
        Passage("c", "Refunds (print)", near, url="https://s/pricing-print"),
    ]
    kept, report = dedupe_passages(passages)
    assert [p.id for p in kept] == ["a", "b"]
    assert report.near == 1 and report.exact == 0
    assert kept[0].urls == ["https://s/pricing", "https://s/pricing-print"]


def test_threshold_one_merges_exact_copies_only():
    near = REFUND.replace("within a week", "within one week")
    passages = [Passage("a", "", REFUND, url="u1"), Passage("b", "", near, url="u2"), Passage("c", "", REFUND, url="u3")]
    kept, report = dedupe_passages(passages, threshold=1.0)
    assert [p.id for p in kept] == ["a", "b"] and report.exact == 1 and report.near == 0
