"""Ranking systems compared on one split: a dense model (the tuned one or the base) and BM25.

Every system implements :class:`~embedtune.data.runs.RankingSystem` (``rank(split, k)`` → a
:data:`~embedtune.data.runs.Run`; the neutral module that recommendation and serving import too).
:class:`~embedtune.dense.DenseSystem` lives in :mod:`embedtune.dense`, below this package, because
recommendation ranks with it too; it is re-exported here.
Recommendation baselines (popularity, co-occurrence) live in :mod:`embedtune.recsys.baselines`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from embedtune import bm25
from embedtune.data.records import RetrievalSplit
from embedtune.data.runs import RankingSystem, Run, top_k_from_scores
from embedtune.dense import DenseSystem
from embedtune.fusion import LexicalExpansion

__all__ = ["EXPANDED_BM25", "BM25System", "DenseSystem", "RankingSystem", "Run", "top_k_from_scores"]


#: The evaluation's name for BM25 over documents expanded with their training queries.
EXPANDED_BM25 = "bm25_expanded"


class BM25System:
    """Lexical baseline: Okapi BM25 as :mod:`embedtune.bm25` defines it (the same scores an index's lexical part serves).

    With ``expansions`` (``{document id: queries}``, :func:`embedtune.data.expansion.training_expansions`) each
    document is indexed with its queries appended (:func:`embedtune.bm25.document_text`), as an index built for a
    fusion that chose them indexes it; the system is then named :data:`EXPANDED_BM25`."""

    def __init__(self, k1: float = bm25.K1, b: float = bm25.B, expansions: Mapping[str, Sequence[str]] | None = None):
        self.k1, self.b = k1, b
        self.expansions = dict(expansions or {})
        self.name = EXPANDED_BM25 if expansions else "bm25"
        self.description = f"BM25 (bm25s, k1={k1}, b={b}, English stopwords, Snowball stemmer)"
        if expansions:
            self.description += " " + LexicalExpansion.of(self.expansions).describe()

    def rank(self, split: RetrievalSplit, k: int) -> Run:
        doc_ids = list(split.corpus)
        texts = [bm25.document_text(split.corpus[d].full_text, self.expansions.get(d)) for d in doc_ids]
        retriever = bm25.build(bm25.tokenize(texts), k1=self.k1, b=self.b)
        query_ids = split.query_ids
        query_tokens = bm25.tokenize([split.queries[q] for q in query_ids])
        # Score every document so exclusions and tie-breaking follow the same rule as dense systems.
        scores = np.zeros((len(query_ids), len(doc_ids)), dtype=np.float32)
        for row, words in enumerate(query_tokens):
            scores[row] = bm25.scores(retriever, words)
        return top_k_from_scores(scores, query_ids, doc_ids, k, split.exclude)
