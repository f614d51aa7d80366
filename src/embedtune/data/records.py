"""Typed records shared by every stage: documents, training pairs and a retrieval split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One retrievable unit: a passage, an abstract or an item. ``metadata`` holds url, price, ...."""

    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def full_text(self) -> str:
        """The text a model embeds: title and text joined by a space (the BEIR/MTEB convention)."""
        return f"{self.title} {self.text}".strip() if self.title else self.text


@dataclass(frozen=True)
class Pair:
    """A training example: an anchor (query), its positive and optional hard negatives."""

    anchor: str
    positive: str
    negatives: tuple[str, ...] = ()


@dataclass
class RetrievalSplit:
    """Queries with relevance judgments over a corpus: what every evaluation runs on.

    ``qrels[query_id][doc_id]`` is a graded relevance; a grade > 0 counts as relevant.
    ``exclude[query_id]`` lists documents never to rank for that query (in recommendation: the
    user's history), and ``kind`` tells the evaluator which baselines apply.
    """

    name: str
    corpus: dict[str, Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    exclude: dict[str, set[str]] = field(default_factory=dict)
    kind: str = "retrieval"

    def relevant(self, query_id: str) -> set[str]:
        return {doc_id for doc_id, grade in self.qrels.get(query_id, {}).items() if grade > 0}

    @property
    def query_ids(self) -> list[str]:
        """Queries with at least one relevant document, in a stable order."""
        return [qid for qid in self.queries if self.relevant(qid)]
