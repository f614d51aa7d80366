"""The ranking systems `embedtune eval` compares: DenseSystem ranks by cosine, BM25System by Okapi BM25.

Both break ties by ascending document id and never rank a document excluded for a query.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from embedtune import bm25
from embedtune.data.records import Document, RetrievalSplit
from embedtune.eval.systems import BM25System, DenseSystem

# Ids out of sorted order, two exact copies ("d9", "d10") and one more ("a", same text) to tie.
DOCS = {
    "d9": Document("d9", "Open Settings and choose Billing to replace your card.", "Billing"),
    "c": Document("c", "Sync pauses when a device is offline.", "Sync"),
    "d10": Document("d10", "Open Settings and choose Billing to replace your card.", "Billing"),
    "b": Document("b", "Export every note as Markdown in a zip archive.", "Export"),
    "a": Document("a", "Open Settings and choose Billing to replace your card.", "Billing"),
    "e": Document("e", "Two-factor authentication uses an authenticator app; billing is unaffected.", ""),
}
QUERIES = {"q1": "how do I change the card in billing settings?", "q2": "export my notes", "q3": "offline sync"}


def make_split(exclude: dict[str, set[str]] | None = None) -> RetrievalSplit:
    return RetrievalSplit("test", DOCS, QUERIES, {q: {"a": 1} for q in QUERIES}, exclude or {})


class WordCountModel:
    """A stand-in bi-encoder: a text's vector counts a few words (not normalised, so cosine ≠ dot product)."""

    VOCAB = ("billing", "card", "settings", "sync", "offline", "export", "notes", "note", "the", "a")

    def __init__(self) -> None:
        self.max_seq_length = 256
        self.document_batches = 0

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        words = [Counter(w.strip(".,;?") for w in t.lower().split()) for t in texts]
        return np.array([[c[v] + 0.1 * (i + 1) for i, v in enumerate(self.VOCAB)] for c in words], dtype=np.float32)

    def encode_query(self, texts: Sequence[str], **_: object) -> np.ndarray:
        return 3.0 * self._vectors(texts)

    def encode_document(self, texts: Sequence[str], **_: object) -> np.ndarray:
        self.document_batches += 1
        return self._vectors(texts)


def brute_force_cosine(query: np.ndarray, docs: dict[str, np.ndarray], k: int, excluded: set[str]) -> list[str]:
    def cosine(u: np.ndarray, v: np.ndarray) -> float:
        u, v = u.astype(np.float64), v.astype(np.float64)
        return float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))

    scored = sorted((-cosine(query, vec), doc_id) for doc_id, vec in docs.items() if doc_id not in excluded)
    return [doc_id for _, doc_id in scored[:k]]


def dense(model: object) -> DenseSystem:
    return DenseSystem("model", "all-MiniLM-L6-v2", model=model, use_cache=False)


def test_dense_ranking_is_brute_force_cosine_with_ties_broken_by_doc_id():
    model = WordCountModel()
    run = dense(model).rank(make_split(), k=4)
    doc_vectors = dict(zip(DOCS, model._vectors([d.full_text for d in DOCS.values()]), strict=True))
    for qid, text in QUERIES.items():
        expected = brute_force_cosine(model.encode_query([text])[0], doc_vectors, 4, set())
        assert [doc_id for doc_id, _ in run[qid]] == expected
    assert [doc_id for doc_id, _ in run["q1"][:3]] == ["a", "d10", "d9"]  # three equal scores: by id, as strings
    assert run["q1"][0][1] == run["q1"][2][1] and -1 <= run["q1"][3][1] <= run["q1"][0][1] <= 1


def test_dense_ranking_with_the_real_model_is_its_cosine_ranking(base_model):
    run = dense(base_model).rank(make_split(), k=len(DOCS))
    docs = dict(zip(DOCS, base_model.encode_document([d.full_text for d in DOCS.values()]), strict=True))
    for qid, text in QUERIES.items():
        query = base_model.encode_query([text])[0]
        cosine = {d: float(np.dot(query, v) / (np.linalg.norm(query) * np.linalg.norm(v))) for d, v in docs.items()}
        ranked = [doc_id for doc_id, _ in run[qid]]
        assert sorted(ranked) == sorted(DOCS)
        # Identical texts encoded at other batch positions can differ in the last float32 bits, so
        # the real model's three copies tie only up to rounding: compare within 1e-5.
        for (doc_id, score), later in zip(run[qid], ranked[1:], strict=False):
            assert abs(score - cosine[doc_id]) < 1e-5
            assert cosine[doc_id] >= cosine[later] - 1e-5
        if qid == "q1":  # the billing question: the three copies of the billing passage come first
            assert set(ranked[:3]) == {"a", "d9", "d10"}


def test_excluded_documents_are_never_ranked_and_the_next_ones_fill_in():
    exclude = {"q1": {"a", "d9", "nonexistent"}, "q2": set(DOCS) - {"c"}}
    for system in (dense(WordCountModel()), BM25System()):
        full = system.rank(make_split(), k=3)
        run = system.rank(make_split(exclude), k=3)
        q1 = [doc_id for doc_id, _ in run["q1"]]
        assert "a" not in q1 and "d9" not in q1 and len(q1) == 3 and q1[0] == "d10"
        assert [doc_id for doc_id, _ in run["q2"]] == ["c"]  # only one document left to rank
        assert run["q3"] == full["q3"]  # other queries untouched


def test_dense_corpus_embeddings_are_cached_per_corpus_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EMBEDTUNE_CACHE", str(tmp_path))
    first = WordCountModel()
    run = DenseSystem("model", "all-MiniLM-L6-v2", model=first).rank(make_split(), k=3)
    second = WordCountModel()
    assert DenseSystem("model", "all-MiniLM-L6-v2", model=second).rank(make_split(), k=3) == run
    assert (first.document_batches, second.document_batches) == (1, 0)  # read back from the cache
    changed = RetrievalSplit("test", {**DOCS, "c": Document("c", "Sync runs every minute.", "Sync")}, QUERIES,
                             {q: {"a": 1} for q in QUERIES})
    DenseSystem("model", "all-MiniLM-L6-v2", model=second).rank(changed, k=3)
    assert second.document_batches == 1  # another corpus text: encoded again


def okapi_bm25(query: list[str], docs: list[list[str]], k1: float = bm25.K1, b: float = bm25.B) -> list[float]:
    """Lucene's BM25, written out: idf = ln(1 + (N - df + 0.5) / (df + 0.5)) times tf / (tf + k1 (1 - b + b dl/avgdl))
    (Lucene 8+ and bm25s's default drop classic BM25's constant factor k1 + 1: same ranking)."""
    n, avgdl = len(docs), sum(map(len, docs)) / len(docs)
    out = []
    for doc in docs:
        tf, score = Counter(doc), 0.0
        for term in set(query):
            df = sum(term in d for d in docs)
            if tf[term]:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                score += idf * tf[term] / (tf[term] + k1 * (1 - b + b * len(doc) / avgdl))
        out.append(score)
    return out


def test_bm25_system_scores_as_the_shared_bm25_module_and_okapi_bm25():
    run = BM25System().rank(make_split(), k=len(DOCS))
    doc_tokens = bm25.tokenize([d.full_text for d in DOCS.values()])  # title + text, as the index does
    retriever = bm25.build(doc_tokens)
    for qid, text in QUERIES.items():
        tokens = bm25.tokenize([text])[0]
        shared = dict(zip(DOCS, bm25.scores(retriever, tokens).tolist(), strict=True))
        written_out = dict(zip(DOCS, okapi_bm25(tokens, doc_tokens), strict=True))
        assert [doc_id for doc_id, _ in run[qid]] == sorted(DOCS, key=lambda d: (-shared[d], d))
        for doc_id, score in run[qid]:
            assert score == pytest.approx(shared[doc_id], rel=1e-6) and score == pytest.approx(written_out[doc_id], rel=1e-5)
    assert [doc_id for doc_id, _ in run["q1"][:3]] == ["a", "d10", "d9"]
    assert run["q2"][-1][1] == 0.0 and [d for d, s in run["q2"] if s == 0.0] == sorted(d for d, s in run["q2"] if s == 0.0)
