"""A dense ranking system: a sentence-transformers bi-encoder ranking a split by cosine similarity.

A neutral module below evaluation and recommendation: ``embedtune eval`` compares it with the base
model and BM25 (:mod:`embedtune.eval.systems`), and the recommender ranks catalog items with it
(:mod:`embedtune.recsys.recommend`), so neither has to import the other. It implements
:class:`~embedtune.data.runs.RankingSystem`.

Example::

    from embedtune.data import load_retrieval_split
    from embedtune.dense import DenseSystem

    split = load_retrieval_split("src/embedtune/examples/helpcenter", "test")
    run = DenseSystem("base", "all-MiniLM-L6-v2").rank(split, k=10)   # {query_id: [(doc_id, cosine), ...]}
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedtune.base_model import model_fingerprint
from embedtune.data.records import RetrievalSplit
from embedtune.data.runs import Run, top_k_from_scores
from embedtune.errors import EmbedtuneError

__all__ = ["DenseSystem"]

logger = logging.getLogger(__name__)


def _cache_dir() -> Path:
    from embedtune.fileio import cache_root

    return cache_root() / "embeddings"


def _texts_fingerprint(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:24]


class DenseSystem:
    """A sentence-transformers bi-encoder ranking by cosine similarity.

    Corpus embeddings are cached on disk (``$EMBEDTUNE_CACHE`` or ``~/.cache/embedtune``) keyed by the
    model's weights, max_seq_length and the corpus text, because encoding a corpus is the slowest part
    of an evaluation on a CPU.
    """

    def __init__(
        self,
        name: str,
        model_path: str | Path,
        description: str = "",
        batch_size: int = 64,
        max_seq_length: int | None = None,
        use_cache: bool = True,
        show_progress: bool = False,
        model=None,
    ):
        from embedtune.base_model import resolve_model_path

        self.name = name
        self.model_path = resolve_model_path(model_path)
        self.description = description or f"dense retrieval with {model_path}"
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.use_cache = use_cache
        self.show_progress = show_progress
        self._model = model
        self._corpus_memo: tuple[str, np.ndarray] | None = None  # dev and test of one folder share a corpus
        self._query_memo: dict[str, np.ndarray] = {}  # the last two splits' query vectors, by their texts

    @property
    def model(self):
        if self._model is None:
            from embedtune.base_model import load_model

            self._model = load_model(self.model_path, max_seq_length=self.max_seq_length)
        elif self.max_seq_length is not None:
            self._model.max_seq_length = self.max_seq_length
        return self._model

    def encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        encode = self.model.encode_query if kind == "query" else self.model.encode_document
        emb = encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=self.show_progress
        )
        emb = np.asarray(emb, dtype=np.float32)
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        return emb / np.maximum(norms, 1e-12)

    def corpus_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        texts_key = _texts_fingerprint(texts)
        if self._corpus_memo is not None and self._corpus_memo[0] == texts_key:
            return self._corpus_memo[1]
        emb = self._cached_corpus_embeddings(texts, texts_key)
        self._corpus_memo = (texts_key, emb)
        return emb

    def _cached_corpus_embeddings(self, texts: Sequence[str], texts_key: str) -> np.ndarray:
        if not self.use_cache:
            return self.encode(texts, "document")
        key = f"{model_fingerprint(self.model_path)}-{self.model.max_seq_length}-{texts_key}"
        path = _cache_dir() / f"{key}.npy"
        if path.is_file():
            emb = np.load(path)
            if emb.shape[0] == len(texts):
                logger.info("corpus embeddings from cache %s", path)
                return emb
        emb = self.encode(texts, "document")
        try:
            from embedtune.fileio import atomic_path

            with atomic_path(path) as tmp:
                with tmp.open("wb") as fh:
                    np.save(fh, emb)
        except OSError as exc:  # a read-only home must not fail an evaluation
            logger.warning("could not cache embeddings at %s: %s", path, exc)
        return emb

    def query_embeddings(self, split: RetrievalSplit) -> np.ndarray:
        """The split's query vectors in ``split.query_ids`` order (kept for the last two splits encoded: a
        recommendation hybrid ranks the same users twice, once with their vectors centred, and an evaluation of
        test chooses its fusion on dev in between)."""
        texts = [split.queries[q] for q in split.query_ids]
        key = _texts_fingerprint(texts)
        if key in self._query_memo:
            return self._query_memo[key]
        emb = self.encode(texts, "query")
        self._query_memo = {**dict(list(self._query_memo.items())[-1:]), key: emb}
        return emb

    def rank(self, split: RetrievalSplit, k: int, shift: np.ndarray | None = None) -> Run:
        """Each query's top ``k`` documents by cosine similarity, the split's ``exclude`` left out; with ``shift``
        (a vector) by ``(q − shift)·d`` instead (:class:`embedtune.fusion.ColdSlot`'s centred ranking)."""
        doc_ids = list(split.corpus)
        doc_emb = self.corpus_embeddings([split.corpus[d].full_text for d in doc_ids])
        query_ids = split.query_ids
        query_emb = self.query_embeddings(split)
        if shift is not None:
            shift = np.asarray(shift, dtype=np.float32)
            if shift.shape != (query_emb.shape[1],):
                raise EmbedtuneError(f"a shift of {shift.shape} for {query_emb.shape[1]}-dimensional query vectors "
                                     f"of {self.model_path}: was the fusion's cold slot measured with another model?")
            query_emb = query_emb - shift[None, :]
        run: Run = {}
        # Chunk the queries so a large split never materialises a huge score matrix at once.
        for start in range(0, len(query_ids), 1024):
            chunk = query_ids[start : start + 1024]
            scores = query_emb[start : start + len(chunk)] @ doc_emb.T
            run.update(top_k_from_scores(scores, chunk, doc_ids, k, split.exclude))
        return run
