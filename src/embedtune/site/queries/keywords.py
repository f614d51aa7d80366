"""``keywords``: 2–4 salient terms of the passage by TF-IDF over the whole site, in text order.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence

from embedtune.data.records import Document
from embedtune.site.queries.base import STOPWORDS, words


class KeywordQueries:
    """Two to four salient terms of the passage (TF-IDF over the site), in the order the text uses them."""

    name = "keywords"

    def __init__(self, max_terms: int = 8) -> None:
        self.max_terms = max_terms
        self.idf: dict[str, float] = {}

    @staticmethod
    def _terms(text: str) -> list[str]:
        return [w for w in words(text) if len(w) > 2 and w not in STOPWORDS and not w.isdigit()]

    def prepare(self, passages: Sequence[Document]) -> None:
        df: Counter[str] = Counter()
        for doc in passages:
            df.update(set(self._terms(doc.full_text)))
        n = max(len(passages), 1)
        self.idf = {term: math.log((n + 1) / (count + 0.5)) for term, count in df.items()}

    def salient_terms(self, passage: Document, k: int) -> list[str]:
        tf = Counter(self._terms(passage.full_text))
        if not tf:
            return []
        default_idf = max(self.idf.values(), default=1.0)
        scored = sorted(tf, key=lambda t: (-(1 + math.log(tf[t])) * self.idf.get(t, default_idf), t))
        return scored[:k]

    def generate(self, passage: Document, rng: random.Random) -> list[str]:
        top = self.salient_terms(passage, self.max_terms)
        if len(top) < 2:
            return []
        order = {t: i for i, t in enumerate(dict.fromkeys(self._terms(passage.full_text)))}
        queries = []
        for _ in range(3):
            size = rng.randint(2, min(4, len(top)))
            picked = rng.sample(top, size)
            queries.append(" ".join(sorted(picked, key=order.__getitem__)))
        return queries
