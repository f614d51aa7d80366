"""What every query generator shares: the record, the protocol, word helpers and the leak check.

A query that repeats its passage (a run of :data:`LEAK_RUN` words, or the whole query when it is a
sentence-length span of the text) is dropped by :func:`repeats_passage`, since a model learns
nothing from matching a text with itself and the doctor flags such data.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from embedtune.data.records import Document
from embedtune.text import shingles
from embedtune.text import words as text_words

# A query sharing this many consecutive words with its passage's text copies the answer.
LEAK_RUN = 8
# A query this long (in words) that appears whole in the passage text is a copied sentence.
LEAK_WHOLE_MIN_WORDS = 5
# ... or has this share of its word 3-shingles in the passage (the doctor's containment test).
LEAK_SHINGLE_SHARE = 0.8

_WORD = re.compile(r"[\w][\w'-]*")


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | {
        "also", "can", "may", "might", "one", "use", "used", "using", "via", "within", "per", "every", "many",
        "much", "always", "never", "however", "whether", "without", "across", "well", "like", "get", "make",
    }


STOPWORDS = _stopwords()


def words(text: str) -> list[str]:
    """Query words: casefolded, keeping inner apostrophes and hyphens ("don't", "e-mail")."""
    return _WORD.findall(text.casefold())


def repeats_passage(query: str, passage_text: str, passage_title: str = "") -> bool:
    """True when ``query`` copies its passage: the data problem the doctor flags.

    Naming the passage's topic (its title) is fine; copying a sentence of its body, or most of a
    short passage, is not. The shingle tests match the doctor's ``query_contains_positive`` check
    on the embedded text (title and text).
    """
    # Leak checks split words the way the doctor does ("il-1beta" is two words), so both agree.
    q, p = text_words(query), text_words(passage_text)
    if not q or not p:
        return False
    full = text_words(f"{passage_title} {passage_text}") if passage_title else p
    q_shingles, full_shingles = shingles(q), shingles(full)
    if len(q_shingles & full_shingles) >= LEAK_SHINGLE_SHARE * len(full_shingles):
        return True  # the query holds (nearly) the whole passage
    if len(q) >= LEAK_RUN:
        grams = {tuple(p[i : i + LEAK_RUN]) for i in range(len(p) - LEAK_RUN + 1)}
        if any(tuple(q[i : i + LEAK_RUN]) in grams for i in range(len(q) - LEAK_RUN + 1)):
            return True
        if len(q_shingles & full_shingles) >= LEAK_SHINGLE_SHARE * len(q_shingles):
            return True  # most of the query's word 3-shingles occur in the passage
    if len(q) >= LEAK_WHOLE_MIN_WORDS:
        n = len(q)
        return any(p[i : i + n] == q for i in range(len(p) - n + 1))
    return False


def names_title(query: str, title: str) -> bool:
    """True when the query contains the passage's whole title (of two words or more).

    Fine for training (visitors do search for a page's name) but an evaluation query that contains
    its answer's title measures title matching, not retrieval: such queries stay out of dev.
    """
    t = words(title)
    return len(t) >= 2 and f" {' '.join(t)} " in f" {' '.join(words(query))} "


def normalize_query(text: str) -> str:
    return " ".join(words(text))


def topic_of(doc: Document) -> str:
    """The passage's topic: its section heading (the part of the title after the page title)."""
    title = doc.title.strip()
    if " — " in title:
        title = title.rsplit(" — ", 1)[1].strip()
    return title


def lower_first(text: str) -> str:
    """Lower-case a leading function word or gerund ("The app", "Exporting notes"), keep names ("Inkpad")."""
    first = text.split()[0] if text.split() else ""
    if len(first) > 1 and first[0].isupper() and first[1:].islower() and (
        first.lower() in STOPWORDS or first.lower().endswith("ing")
    ):
        return text[0].lower() + text[1:]
    return text


@dataclass(frozen=True)
class GeneratedQuery:
    text: str
    passage_id: str
    generator: str
    #: the training positive when it is not the whole passage (cloze: the passage without the query
    #: sentence; titles: the passage without its title), else None
    positive: str | None = None


class QueryGenerator(Protocol):
    """Writes candidate queries for one passage; ``prepare`` sees the whole site first.

    ``generate`` returns query texts, or ``(query, positive)`` tuples when the query was cut out of
    the passage and the training positive must be what is left (never the query's own words).
    """

    name: str

    def prepare(self, passages: Sequence[Document]) -> None: ...

    def generate(self, passage: Document, rng: random.Random) -> list[str | tuple[str, str]]: ...
