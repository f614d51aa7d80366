"""Chunking: one passage per section, headings as titles, never over the token limit."""

from __future__ import annotations

from embedtune.data.records import Document
from embedtune.site.chunk import chunk_document, chunk_page, slugify
from embedtune.site.extract import ExtractedPage

LONG_SECTION = " ".join(
    f"Sentence number {i} explains how the offline queue stores edits until the device reconnects." for i in range(60)
)


def test_each_section_is_a_passage_titled_by_its_heading(token_counter):
    page = ExtractedPage(
        url="https://s/docs/sync",
        title="Sync troubleshooting",
        text="# Sync troubleshooting\n\nIntro text about sync.\n\n## Offline devices\n\nQueued edits wait.\n\n## Conflicts\n\nBoth versions kept.",
    )
    passages = chunk_page(page, 256, token_counter, "p1")
    assert [p.title for p in passages] == [
        "Sync troubleshooting", "Sync troubleshooting — Offline devices", "Sync troubleshooting — Conflicts"
    ]
    assert [p.anchor for p in passages] == ["sync-troubleshooting", "offline-devices", "conflicts"]
    assert passages[1].text == "Queued edits wait."
    assert all(p.url == "https://s/docs/sync" for p in passages)
    assert len({p.id for p in passages}) == 3


def test_long_sections_are_split_and_every_passage_fits_the_limit(token_counter):
    page = ExtractedPage(url="u", title="Offline mode", text=f"## Queue\n\n{LONG_SECTION}\n\nA closing paragraph.")
    for max_tokens in (64, 128):
        passages = chunk_page(page, max_tokens, token_counter, "p")
        assert len(passages) > 1
        # The model embeds title + text plus [CLS]/[SEP]: all of it must fit.
        assert all(token_counter(p.full_text) + 2 <= max_tokens for p in passages)
        joined = " ".join(p.text for p in passages)
        assert "Sentence number 0 " in joined and "Sentence number 59 " in joined and "closing paragraph" in joined


def test_a_single_huge_sentence_is_cut_by_words(token_counter):
    page = ExtractedPage(url="u", title="T", text=" ".join(["word"] * 1000))
    passages = chunk_page(page, 100, token_counter, "p")
    assert all(token_counter(p.full_text) + 2 <= 100 for p in passages)
    assert sum(len(p.text.split()) for p in passages) == 1000


def test_corpus_documents_keep_their_ids_when_they_fit(token_counter):
    short = Document(id="42", title="Aspirin", text="Aspirin lowers the risk of a second heart attack.")
    assert chunk_document(short, 256, token_counter) == [short]
    long = Document(id="7", title="Long abstract", text=LONG_SECTION)
    pieces = chunk_document(long, 128, token_counter)
    assert [d.id for d in pieces][:3] == ["7", "7#2", "7#3"]
    assert all(d.title == "Long abstract" for d in pieces)
    assert all(token_counter(d.full_text) + 2 <= 128 for d in pieces)


def test_slugify_matches_static_site_anchors():
    assert slugify("Offline devices") == "offline-devices"
    assert slugify("What's new in 2.0?") == "whats-new-in-20"
