"""Rankings as records: a run (query id → its top documents, best first) and how to cut one from scores.

A neutral module below evaluation, recommendation and serving: each of them produces or consumes
runs, and none needs the others to do so. Ties are broken by ascending document id, as
sentence-transformers' evaluator does, so metrics and served rankings are reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from embedtune.data.records import RetrievalSplit

#: ``{query_id: [(doc_id, score), ...]}``, best first.
Run = dict[str, list[tuple[str, float]]]


class RankingSystem(Protocol):
    """Anything that ranks a split: ``rank(split, k)`` returns each evaluated query's top ``k``
    documents best first, never one in ``split.exclude[query_id]``."""

    name: str
    description: str

    def rank(self, split: RetrievalSplit, k: int) -> Run: ...


def top_k_from_scores(
    scores: np.ndarray,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    k: int,
    exclude: dict[str, set[str]] | None = None,
) -> Run:
    """Top ``k`` documents per query from a dense score matrix, ordered by (-score, doc id)."""
    exclude = exclude or {}
    doc_index = {d: i for i, d in enumerate(doc_ids)}
    id_rank = np.empty(len(doc_ids), dtype=np.int64)
    id_rank[np.argsort(np.asarray(doc_ids, dtype=object), kind="stable")] = np.arange(len(doc_ids))
    run: Run = {}
    for row, qid in enumerate(query_ids):
        s = np.asarray(scores[row], dtype=np.float64).copy()
        banned = [doc_index[d] for d in exclude.get(qid, ()) if d in doc_index]
        if banned:
            s[banned] = -np.inf
        n_ok = len(s) - len(banned)
        kk = min(k, n_ok)
        if kk <= 0:
            run[qid] = []
            continue
        # Everything scoring at least the kk-th best value is a candidate, so ties at the cut-off are
        # settled by doc id rather than by argpartition's arbitrary choice.
        threshold = np.partition(s, len(s) - kk)[len(s) - kk]
        cand = np.nonzero(s >= threshold)[0]
        order = np.lexsort((id_rank[cand], -s[cand]))[:kk]
        run[qid] = [(doc_ids[i], float(s[i])) for i in cand[order]]
    return run
