"""An index's lexical part: BM25 (:mod:`embedtune.bm25`) over its live rows, kept in step with the vectors.

bm25s has no incremental add, and a BM25 score depends on the whole corpus (document frequencies and
the mean length), so a tombstone alone would leave every score stale. Each row's tokens are kept
instead (``tokens.npy``, term ids into the bm25s vocabulary): ``add`` tokenises only the new
documents, ``delete`` and ``add`` mark the BM25 matrix stale, and the next save (or lexical search)
rebuilds it from the kept tokens over the live rows — no re-tokenising, and the scores are exactly
those ``embedtune eval`` computes over the same documents. Measured cost: ``docs/index.md``.

Files, in ``INDEX/bm25/``: bm25s's own (``params.index.json``, ``vocab.index.json``,
``data.csc.index.npy``, ``indices.csc.index.npy``, ``indptr.csc.index.npy``; document ``j`` is the
``j``-th live row of the index) and ``tokens.npy`` (int32 term ids of every row, one after the
other) with ``tokens.offsets.npy`` ((rows + 1,) int64: row ``i`` is ``tokens[offsets[i]:offsets[i + 1]]``).

Expansion: an index built for a model whose ``fusion.json`` expands BM25 with training queries
(:mod:`embedtune.data.expansion`) indexes each document's text followed by its queries
(:func:`embedtune.bm25.document_text`), as evaluation's ``bm25_expanded`` does; the queries are kept in
``expansions.json`` (``{document id: [queries]}``) so a document added again under its id (an update) keeps them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from embedtune import bm25
from embedtune.data.records import Document
from embedtune.fusion import LexicalExpansion

LEXICAL_DIR = "bm25"
_TOKENS, _OFFSETS = "tokens.npy", "tokens.offsets.npy"
_EXPANSIONS = "expansions.json"
_TOKENIZE_CHUNK = 20_000
_NO_TERM = "\x00"  # bm25s's tokenizer only yields \w\w+ words: never this


class LexicalInfo(BaseModel):
    """``index.json``'s ``lexical`` entry: what scores the lexical part, and over how many documents."""

    library: str = "bm25s"
    k1: float = bm25.K1
    b: float = bm25.B
    method: str = "lucene"
    tokenizer: str = "bm25s, English stopwords, Snowball stemmer"
    documents: int = 0
    terms: int = 0
    build_seconds: float | None = None
    expansion_queries: int = Field(0, description="training queries appended, one per (query, document) judgment "
                                   "(0: plain BM25)")
    expansion_documents: int = Field(0, description="documents indexed with training queries")


class LexicalIndex:
    """Every row's tokens, and a bm25s index over the live ones (``None`` while stale)."""

    def __init__(self, vocab: dict[str, int], tokens: np.ndarray, offsets: np.ndarray,
                 retriever: Any = None, live: np.ndarray | None = None,
                 expansions: dict[str, list[str]] | None = None):
        self.expansions = dict(expansions or {})  # document id → the queries indexed with it
        self.vocab = vocab
        self.tokens = tokens
        self.offsets = offsets
        self.retriever = retriever
        self.live = live  # row of each bm25s document
        self.build_seconds: float | None = None

    @property
    def rows(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def from_texts(cls, texts: list[str]) -> LexicalIndex:
        index = cls({}, np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64))
        index.extend(texts)
        return index

    @classmethod
    def from_documents(cls, docs: Sequence[Document], expansions: Mapping[str, Sequence[str]] | None = None
                       ) -> LexicalIndex:
        """Rows for ``docs``, each indexed with its ``expansions`` (queries) if it has any."""
        ids = {d.id for d in docs}
        index = cls({}, np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64),
                    expansions={d: list(q) for d, q in (expansions or {}).items() if d in ids and q})
        index.extend_documents(docs)
        return index

    @property
    def expanded(self) -> bool:
        return bool(self.expansions)

    def extend_documents(self, docs: Sequence[Document]) -> None:
        """Append rows for ``docs`` (the text BM25 indexes: each document's, with its kept expansion)."""
        self.extend([bm25.document_text(d.full_text, self.expansions.get(d.id)) for d in docs])

    def extend(self, texts: list[str]) -> None:
        """Append rows (tokenised here); the BM25 matrix is stale until :meth:`build`."""
        flats, lengths = [np.asarray(self.tokens)], []
        for start in range(0, len(texts), _TOKENIZE_CHUNK):  # token strings of one chunk at a time in memory
            ids = [[self.vocab.setdefault(t, len(self.vocab)) for t in tokens]
                   for tokens in bm25.tokenize(texts[start:start + _TOKENIZE_CHUNK])]
            lengths.append(np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids)))
            flats.append(np.fromiter((t for x in ids for t in x), dtype=np.int32, count=int(lengths[-1].sum())))
        added = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        self.tokens = np.concatenate(flats)
        self.offsets = np.concatenate([np.asarray(self.offsets), self.offsets[-1] + np.cumsum(added)])
        self.invalidate()

    def take(self, rows: np.ndarray) -> None:
        """Keep only ``rows``, in that order (compaction)."""
        starts, ends = self.offsets[rows], self.offsets[np.asarray(rows) + 1]
        lengths = ends - starts
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        gather = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        self.tokens, self.offsets = np.asarray(self.tokens)[gather], offsets
        self.invalidate()

    def invalidate(self) -> None:
        self.retriever, self.live = None, None

    def build(self, alive: np.ndarray) -> None:
        """(Re)build the BM25 matrix over the rows where ``alive`` is true, from the kept tokens."""
        start = time.perf_counter()
        live = np.flatnonzero(alive)
        tokens, offsets = np.asarray(self.tokens), np.asarray(self.offsets)
        docs = [tokens[offsets[r]:offsets[r + 1]].tolist() for r in live]
        # bm25s adds an empty-token entry to the vocabulary it is given: hand it a copy. A corpus without
        # a single token (texts of stopwords and one-letter words) gets a term no text can hold, so bm25s
        # has a vocabulary to build on; every score is then 0.
        vocab = dict(self.vocab) or {_NO_TERM: 0}
        with np.errstate(divide="ignore", invalid="ignore"):  # mean document length 0 in that corpus
            self.retriever = bm25.build((docs, vocab))
        self.live = live
        self.build_seconds = round(time.perf_counter() - start, 3)

    def ensure_built(self, alive: np.ndarray) -> None:
        if self.retriever is None:
            self.build(alive)

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of each live row (in :attr:`live` order) for a query's tokens."""
        assert self.retriever is not None, "build() first"
        return bm25.scores(self.retriever, tokens)

    def info(self) -> LexicalInfo:
        assert self.retriever is not None and self.live is not None
        expansion = LexicalExpansion.of(self.expansions)
        return LexicalInfo(method=self.retriever.method, k1=self.retriever.k1, b=self.retriever.b,
                           documents=len(self.live), terms=len(self.vocab), build_seconds=self.build_seconds,
                           expansion_queries=expansion.queries, expansion_documents=expansion.documents)

    def save(self, folder: Path) -> None:
        assert self.retriever is not None, "build() first"
        self.retriever.save(folder, show_progress=False)
        np.save(folder / _TOKENS, np.asarray(self.tokens))
        np.save(folder / _OFFSETS, np.asarray(self.offsets))
        if self.expansions:
            (folder / _EXPANSIONS).write_text(json.dumps(self.expansions, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, alive: np.ndarray) -> LexicalIndex:
        """Open ``folder`` (memory-mapped); raises ``ValueError`` if it is out of step with ``alive``."""
        import bm25s

        bm25._quiet()
        retriever = bm25s.BM25.load(folder, mmap=True, show_progress=False)
        tokens = np.load(folder / _TOKENS, mmap_mode="r")
        offsets = np.load(folder / _OFFSETS)
        live = np.flatnonzero(alive)
        if len(offsets) - 1 != len(alive) or retriever.scores["num_docs"] != len(live):
            raise ValueError(f"the lexical index holds {len(offsets) - 1} rows and {retriever.scores['num_docs']} "
                             f"documents, the vectors {len(alive)} rows and {len(live)} live ones")
        # The vocabulary as built: bm25s's file also holds its empty-token entry, past the matrix's columns.
        n_terms = len(retriever.scores["indptr"]) - 1
        vocab = {t: i for t, i in retriever.vocab_dict.items() if i < n_terms and t != _NO_TERM}
        path = folder / _EXPANSIONS
        expansions = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        return cls(vocab, tokens, offsets, retriever=retriever, live=live, expansions=expansions)


def read_params(folder: Path) -> dict[str, Any]:
    """bm25s's parameters file of a lexical folder (for messages and checks)."""
    return json.loads((folder / "params.index.json").read_text(encoding="utf-8"))
