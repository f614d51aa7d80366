"""Passages: a page cut by section, each piece at most ``max_tokens`` tokens of the model's tokenizer.

A section is the text under one heading; its heading becomes the passage title (with the page
title in front when they differ), so a search hit reads "Sync troubleshooting — Offline devices".
A section too long for one passage is packed greedily by paragraph, then sentence, then word, so
no passage is ever truncated by the model. Token counts include the title, because the model embeds
``title + " " + text`` (:attr:`embedtune.data.Document.full_text`), plus the two special tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from embedtune.data.records import Document
from embedtune.site.extract import ExtractedPage

TokenCounter = Callable[[str], int]

DEFAULT_MAX_TOKENS = 256
_SPECIAL_TOKENS = 2  # [CLS] ... [SEP]
_ATX_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


@dataclass
class Passage:
    """One retrievable piece of a site: what a search hit shows (title, text) and where it lives."""

    id: str
    title: str
    text: str
    url: str
    anchor: str = ""
    page_title: str = ""
    urls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.urls:
            self.urls = [self.url]

    @property
    def full_text(self) -> str:
        return f"{self.title} {self.text}".strip() if self.title else self.text

    def to_document(self) -> Document:
        metadata = {"url": self.url, "urls": list(self.urls)}
        if self.anchor:
            metadata["anchor"] = self.anchor
        if self.page_title:
            metadata["page_title"] = self.page_title
        return Document(id=self.id, text=self.text, title=self.title, metadata=metadata)


def load_token_counter(model: str | Path) -> TokenCounter:
    """Count tokens with the tokenizer of ``model`` (a bundled name or a local model folder)."""
    from embedtune.base_model import load_tokenizer

    tokenizer = load_tokenizer(model)

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])

    return count


def slugify(heading: str) -> str:
    """The anchor most static-site generators give a heading: ``Offline devices`` → ``offline-devices``."""
    slug = re.sub(r"[^\w\s-]", "", heading.lower()).strip()
    return re.sub(r"[\s_]+", "-", slug).strip("-")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


@dataclass
class _Section:
    heading: str
    blocks: list[str]


def _sections(text: str) -> Iterator[_Section]:
    heading, blocks, current = "", [], []
    for line in text.splitlines():
        match = _ATX_HEADING.match(line)
        if match:
            if current:
                blocks.append("\n".join(current))
                current = []
            if blocks:
                yield _Section(heading, blocks)
            heading, blocks = match.group(2).strip(), []
        elif not line.strip():
            if current:
                blocks.append("\n".join(current))
                current = []
        else:
            current.append(line)
    if current:
        blocks.append("\n".join(current))
    if blocks:
        yield _Section(heading, blocks)


def _pieces(block: str, budget: int, count: TokenCounter) -> Iterator[str]:
    """Split one block into pieces that each fit ``budget`` tokens: sentences, then word windows."""
    if count(block) <= budget:
        yield block
        return
    for sentence in split_sentences(block):
        if count(sentence) <= budget:
            yield sentence
            continue
        words, window = sentence.split(), []
        for word in words:
            if window and count(" ".join([*window, word])) > budget:
                yield " ".join(window)
                window = []
            window.append(word)
        if window:
            yield " ".join(window)


def pack(blocks: list[str], budget: int, count: TokenCounter, joiner: str = "\n\n") -> list[str]:
    """Greedily pack blocks into chunks of at most ``budget`` tokens, splitting blocks that do not fit."""
    chunks: list[str] = []
    current: list[str] = []
    for block in blocks:
        for piece in _pieces(block, budget, count):
            if current and count(joiner.join([*current, piece])) > budget:
                chunks.append(joiner.join(current))
                current = []
            current.append(piece)
    if current:
        chunks.append(joiner.join(current))
    return chunks


def _text_budget(title: str, max_tokens: int, count: TokenCounter) -> int:
    budget = max_tokens - _SPECIAL_TOKENS - (count(title) + 1 if title else 0)
    return max(budget, 16)


def chunk_page(page: ExtractedPage, max_tokens: int, count: TokenCounter, id_prefix: str) -> list[Passage]:
    """Cut a page into section passages of at most ``max_tokens`` tokens (title included)."""
    passages: list[Passage] = []
    for section in _sections(page.text):
        heading = section.heading
        if not heading or heading.casefold() == page.title.casefold():
            title = page.title
        else:
            title = f"{page.title} — {heading}"
        anchor = slugify(heading) if heading else ""
        for chunk in pack(section.blocks, _text_budget(title, max_tokens, count), count):
            passages.append(
                Passage(
                    id=f"{id_prefix}-{len(passages) + 1}",
                    title=title,
                    text=chunk,
                    url=page.url,
                    anchor=anchor,
                    page_title=page.title,
                )
            )
    return passages


def chunk_document(doc: Document, max_tokens: int, count: TokenCounter) -> list[Document]:
    """Keep a corpus document whole when it fits; otherwise ``<id>``, ``<id>#2``, ``<id>#3`` …

    The first piece keeps the original id so existing qrels still point at the document's start.
    """
    if count(doc.full_text) + _SPECIAL_TOKENS <= max_tokens:
        return [doc]
    blocks = [b for b in re.split(r"\n\s*\n", doc.text) if b.strip()] or [doc.text]
    chunks = pack(blocks, _text_budget(doc.title, max_tokens, count), count)
    return [
        Document(id=doc.id if i == 1 else f"{doc.id}#{i}", text=chunk, title=doc.title, metadata=dict(doc.metadata))
        for i, chunk in enumerate(chunks, start=1)
    ]
