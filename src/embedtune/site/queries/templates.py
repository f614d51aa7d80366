"""``templates``: the prompts users know ("Summarize …", "Explain …") about the passage's topic.

Expected to help little: every query of a kind looks alike.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from embedtune.data.records import Document
from embedtune.site.queries.base import lower_first, topic_of
from embedtune.site.queries.keywords import KeywordQueries


class TemplateQueries:
    """The seed templates users know, about the passage's topic (never its text)."""

    name = "templates"
    TEMPLATES = ("Summarize {topic}", "Explain {topic}", "Key points about {topic}", "In simple terms: {topic}")

    def prepare(self, passages: Sequence[Document]) -> None:
        self._keywords = KeywordQueries()
        self._keywords.prepare(passages)

    def generate(self, passage: Document, rng: random.Random) -> list[str]:
        topic = topic_of(passage)
        if not topic:
            terms = self._keywords.salient_terms(passage, 3)
            topic = " ".join(terms)
        if not topic:
            return []
        return [template.format(topic=lower_first(topic)) for template in self.TEMPLATES]
