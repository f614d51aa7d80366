"""BM25 as embedtune computes it everywhere: evaluation's ``bm25`` system and an index's lexical part.

One definition keeps the two in agreement, so a query served lexically (or fused) scores each
document exactly as ``embedtune eval`` scored it: bm25s (Okapi BM25, Lucene variant) with
``k1`` 1.5 and ``b`` 0.75 over texts tokenised by bm25s's tokenizer (lower-cased ``\\w\\w+`` words),
English stopwords removed, Snowball-stemmed (PyStemmer).

Example::

    from embedtune import bm25
    retriever = bm25.build(bm25.tokenize(["Open Settings, choose Billing", "Export every note"]))
    bm25.scores(retriever, bm25.tokenize(["billing settings"])[0])   # one score per document
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

K1 = 1.5
B = 0.75
STOPWORDS = "en"
STEMMER = "english"
DESCRIPTION = f"BM25 (bm25s, k1={K1}, b={B}, English stopwords, Snowball stemmer)"


@functools.cache
def _quiet() -> None:
    # bm25s sets DEBUG on import; once is enough (setLevel clears logging's caches: 0.2 ms a call)
    logging.getLogger("bm25s").setLevel(logging.WARNING)


def document_text(text: str, expansion: Sequence[str] | None = None) -> str:
    """The text BM25 indexes for a document: its own, then the queries it is expanded with, if any
    (:mod:`embedtune.data.expansion`)."""
    return " ".join([text, *expansion]) if expansion else text


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Each text as its list of stemmed, non-stopword tokens (in order, repeats kept)."""
    import bm25s
    import Stemmer

    _quiet()
    if not texts:
        return []
    # A fresh stemmer per call: PyStemmer objects are not safe to share between threads.
    return bm25s.tokenize(list(texts), stopwords=STOPWORDS, stemmer=Stemmer.Stemmer(STEMMER),
                          return_ids=False, show_progress=False)


def build(corpus: list[list[str]] | tuple[list[list[int]], dict[str, int]], k1: float = K1, b: float = B) -> Any:
    """A ``bm25s.BM25`` over documents given as token lists, or as ``(token id lists, vocabulary)``."""
    import bm25s

    _quiet()
    retriever = bm25s.BM25(k1=k1, b=b)
    retriever.index(corpus, show_progress=False)
    return retriever


def scores(retriever: Any, tokens: list[str]) -> np.ndarray:
    """The BM25 score of every indexed document for a query's tokens (all zero when none is known)."""
    if not tokens:  # bm25s cannot score an empty query (a query of stopwords only)
        return np.zeros(retriever.scores["num_docs"], dtype=np.float32)
    return retriever.get_scores(tokens)
