"""``titles``: a descriptive title as the query for the passage text without it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from embedtune.data.records import Document
from embedtune.site.queries.base import topic_of


class TitleQueries:
    """The passage's own title as a query for its text (the title → abstract pairs of S2ORC/SPECTER).

    Only descriptive titles (at least ``min_words`` words: "Open access increases citation rate", not
    "Installation") are used, and the positive is the passage text without the title, so the model
    learns to match a statement to the body that supports it.
    """

    name = "titles"

    def __init__(self, min_words: int = 4) -> None:
        self.min_words = min_words

    def prepare(self, passages: Sequence[Document]) -> None:
        return None

    def generate(self, passage: Document, rng: random.Random) -> list[str | tuple[str, str]]:
        topic = topic_of(passage).rstrip(" .:")
        if len(topic.split()) < self.min_words or not passage.text.strip():
            return []
        return [(topic, passage.text)]
