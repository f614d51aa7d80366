"""``cloze``: one sentence of the passage as the query, the rest as its positive (Inverse Cloze Task).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from embedtune.data.records import Document
from embedtune.site.chunk import split_sentences


class ClozeQueries:
    """Inverse Cloze Task (Lee et al., ACL 2019): one sentence of the passage as the query, the rest as positive.

    The passage's last sentence (where abstracts and help pages state their finding or answer) and one
    random other sentence of at least ``min_words`` words are taken; each is removed from the positive,
    so the query never appears in the text it is trained to match. Passages with fewer than three
    sentences are skipped (too little context is left).
    """

    name = "cloze"

    def __init__(self, per_passage: int = 2, min_words: int = 6) -> None:
        self.per_passage = per_passage
        self.min_words = min_words

    def prepare(self, passages: Sequence[Document]) -> None:
        return None

    def generate(self, passage: Document, rng: random.Random) -> list[str | tuple[str, str]]:
        sentences = split_sentences(" ".join(passage.text.split()))
        if len(sentences) < 3:
            return []
        usable = [i for i, s in enumerate(sentences) if len(s.split()) >= self.min_words]
        if not usable:
            return []
        picked = [usable[-1]]
        others = usable[:-1]
        rng.shuffle(others)
        picked += others[: self.per_passage - 1]
        out: list[str | tuple[str, str]] = []
        for i in picked:
            rest = " ".join(sentences[:i] + sentences[i + 1 :])
            positive = f"{passage.title} {rest}".strip() if passage.title else rest
            out.append((sentences[i], positive))
        return out
