"""``sentences``: partial sentences, the way people paste half-remembered phrases into a search box.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from embedtune.data.records import Document
from embedtune.site.chunk import split_sentences
from embedtune.site.queries.base import STOPWORDS


class SentenceFragments:
    """Partial sentences: a 5–12 word window of a sentence, most function words dropped."""

    name = "sentences"

    def prepare(self, passages: Sequence[Document]) -> None:
        return None

    def generate(self, passage: Document, rng: random.Random) -> list[str]:
        sentences = [s for s in split_sentences(" ".join(passage.text.split())) if len(s.split()) >= 6]
        rng.shuffle(sentences)
        queries = []
        for sentence in sentences[:3]:
            tokens = [t.strip(".,;:()[]\"'") for t in sentence.split()]
            tokens = [t for t in tokens if t and t not in ("-", "*", "#")]
            size = min(len(tokens), rng.randint(6, 12))
            start = rng.randint(0, len(tokens) - size)
            window = tokens[start : start + size]
            kept = [t for t in window if t.lower() not in STOPWORDS or rng.random() < 0.25]
            if len([t for t in kept if t.lower() not in STOPWORDS]) >= 3:
                queries.append(" ".join(kept))
        return queries
