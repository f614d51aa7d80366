"""Ranking metrics, defined exactly as sentence-transformers' ``InformationRetrievalEvaluator``.

Relevance is binary (a qrels grade > 0 is relevant). For one query with ranking ``r`` and relevant set
``R``: accuracy@k = 1 if any of the top k is relevant; precision@k = hits/k; recall@k = hits/|R|;
MRR@k = 1/rank of the first relevant hit within k; NDCG@k = DCG(top k)/DCG(ideal), with
DCG = Σ rel_i / log2(i + 1) and the ideal ranking putting all of ``R`` first; MAP@k = Σ precision at
each relevant hit within k / min(k, |R|). System scores are means over queries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class MetricSpec:
    """Which cut-offs to report; the defaults are the sentence-transformers evaluator's."""

    accuracy_at: tuple[int, ...] = (1, 3, 5, 10)
    precision_recall_at: tuple[int, ...] = (1, 3, 5, 10)
    ndcg_at: tuple[int, ...] = (10,)
    mrr_at: tuple[int, ...] = (10,)
    map_at: tuple[int, ...] = (100,)
    extra_recall_at: tuple[int, ...] = field(default=())
    hit_alias: bool = False  # recommendation papers call accuracy@k "HR@k"/"hit@k"

    @property
    def max_k(self) -> int:
        return max(
            self.accuracy_at + self.precision_recall_at + self.ndcg_at + self.mrr_at + self.map_at + self.extra_recall_at
        )


RETRIEVAL_METRICS = MetricSpec()
RECSYS_METRICS = MetricSpec(
    accuracy_at=(1, 3, 5, 10, 20, 50), ndcg_at=(10, 20), mrr_at=(10, 100), extra_recall_at=(20, 50), hit_alias=True
)


def _dcg(relevance: Sequence[int], k: int) -> float:
    return sum(rel / math.log2(i + 2) for i, rel in enumerate(relevance[:k]))


def compute_metrics(ranking: Sequence[str], relevant: set[str], spec: MetricSpec = RETRIEVAL_METRICS) -> dict[str, float]:
    """Metrics of one query's ranking (best first) against its relevant documents."""
    if not relevant:
        raise ValueError("a query needs at least one relevant document to be evaluated")
    hits = [1 if doc_id in relevant else 0 for doc_id in ranking[: spec.max_k]]
    cum = np.cumsum(hits) if hits else np.zeros(0)

    def hits_at(k: int) -> int:
        return int(cum[min(k, len(cum)) - 1]) if len(cum) else 0

    out: dict[str, float] = {}
    for k in spec.accuracy_at:
        out[f"accuracy@{k}"] = 1.0 if hits_at(k) > 0 else 0.0
        if spec.hit_alias:
            out[f"hit@{k}"] = out[f"accuracy@{k}"]
    for k in spec.precision_recall_at:
        out[f"precision@{k}"] = hits_at(k) / k
        out[f"recall@{k}"] = hits_at(k) / len(relevant)
    for k in spec.extra_recall_at:
        out[f"recall@{k}"] = hits_at(k) / len(relevant)
    for k in spec.mrr_at:
        first = next((i for i, h in enumerate(hits[:k]) if h), None)
        out[f"mrr@{k}"] = 0.0 if first is None else 1.0 / (first + 1)
    for k in spec.ndcg_at:
        out[f"ndcg@{k}"] = _dcg(hits, k) / _dcg([1] * len(relevant), k)
    for k in spec.map_at:
        precisions = [(i + 1) / (rank + 1) for i, rank in enumerate(r for r, h in enumerate(hits[:k]) if h)]
        out[f"map@{k}"] = sum(precisions) / min(k, len(relevant))
    return out


def mean_metrics(per_query: dict[str, dict[str, float]]) -> dict[str, float]:
    """Average each metric over queries (the system score)."""
    if not per_query:
        return {}
    keys = next(iter(per_query.values())).keys()
    return {key: float(np.mean([m[key] for m in per_query.values()])) for key in keys}


def metric_at_k_curve(
    rankings: dict[str, Sequence[str]], relevant: dict[str, set[str]], metric: str, ks: Sequence[int]
) -> list[float]:
    """Mean recall@k or ndcg@k for each k in ``ks`` (for plots)."""
    values = []
    for k in ks:
        scores = []
        for qid, ranking in rankings.items():
            rel = relevant[qid]
            hits = [1 if d in rel else 0 for d in ranking[:k]]
            if metric == "recall":
                scores.append(sum(hits) / len(rel))
            elif metric == "ndcg":
                scores.append(_dcg(hits, k) / _dcg([1] * len(rel), k))
            else:
                raise ValueError(f"unknown curve metric {metric!r}")
        values.append(float(np.mean(scores)) if scores else 0.0)
    return values
