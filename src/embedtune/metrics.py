"""Ranking metrics, defined exactly as sentence-transformers' ``InformationRetrievalEvaluator``.

Relevance is binary (a qrels grade > 0 is relevant). For one query with ranking ``r`` and relevant set
``R``: accuracy@k = 1 if any of the top k is relevant; precision@k = hits/k; recall@k = hits/|R|;
MRR@k = 1/rank of the first relevant hit within k; NDCG@k = DCG(top k)/DCG(ideal), with
DCG = Σ rel_i / log2(i + 1) and the ideal ranking putting all of ``R`` first; MAP@k = Σ precision at
each relevant hit within k / min(k, |R|). System scores are means over queries.

A low, neutral module: evaluation's tables, the report's @k curves and the fusion weight search
(:mod:`embedtune.fusion`) all score rankings with these definitions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embedtune.data.kinds import RECSYS_METRICS, RETRIEVAL_METRICS, MetricSpec

__all__ = ["RECSYS_METRICS", "RETRIEVAL_METRICS", "MetricSpec", "compute_metrics", "hit_matrix", "mean_metrics",
           "metric_at_k_curve", "metric_curves", "metrics_from_hits", "per_query_metrics"]


def hit_matrix(rankings: Sequence[Sequence[str]], relevant: Sequence[set[str]], depth: int) -> np.ndarray:
    """``H[q, i] = 1`` when the ``i``-th document of query ``q``'s ranking is relevant (rankings cut at ``depth``)."""
    hits = np.zeros((len(rankings), depth), dtype=np.float64)
    for row, (ranking, rel) in enumerate(zip(rankings, relevant, strict=True)):
        for i, doc_id in enumerate(ranking[:depth]):
            if doc_id in rel:
                hits[row, i] = 1.0
    return hits


def _discounts(depth: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, depth + 2))


def metrics_from_hits(hits: np.ndarray, n_relevant: np.ndarray, spec: MetricSpec = RETRIEVAL_METRICS
                      ) -> dict[str, np.ndarray]:
    """Every metric of ``spec`` for every query at once (one array per metric), from a hit matrix.

    The vectorised form of the definitions in the module docstring (RecBole computes its metrics the
    same way); ``hits`` needs at least ``spec.max_k`` columns.
    """
    n_relevant = np.asarray(n_relevant, dtype=np.float64)
    if hits.shape[1] < spec.max_k:
        hits = np.pad(hits, ((0, 0), (0, spec.max_k - hits.shape[1])))
    cum = hits.cumsum(axis=1)
    discounts = _discounts(hits.shape[1])
    ideal = discounts.cumsum()
    positions = np.arange(1, hits.shape[1] + 1)
    first = np.where(hits.any(axis=1), hits.argmax(axis=1), -1)

    def at(k: int) -> np.ndarray:
        return cum[:, k - 1]

    out: dict[str, np.ndarray] = {}
    for k in spec.accuracy_at:
        out[f"accuracy@{k}"] = (at(k) > 0).astype(np.float64)
        if spec.hit_alias:
            out[f"hit@{k}"] = out[f"accuracy@{k}"]
    for k in spec.precision_recall_at:
        out[f"precision@{k}"] = at(k) / k
        out[f"recall@{k}"] = at(k) / n_relevant
    for k in spec.extra_recall_at:
        out[f"recall@{k}"] = at(k) / n_relevant
    for k in spec.mrr_at:
        out[f"mrr@{k}"] = np.where((first >= 0) & (first < k), 1.0 / np.maximum(first + 1, 1), 0.0)
    for k in spec.ndcg_at:
        dcg = (hits[:, :k] * discounts[:k]).sum(axis=1)
        out[f"ndcg@{k}"] = dcg / ideal[np.minimum(k, n_relevant).astype(int) - 1]
    for k in spec.map_at:
        precision_at_hits = (cum[:, :k] / positions[:k]) * hits[:, :k]
        out[f"map@{k}"] = precision_at_hits.sum(axis=1) / np.minimum(k, n_relevant)
    return out


def per_query_metrics(rankings: dict[str, Sequence[str]], relevant: dict[str, set[str]],
                      spec: MetricSpec = RETRIEVAL_METRICS) -> dict[str, dict[str, float]]:
    """``{query_id: {metric: value}}`` for every query in ``relevant`` (a missing ranking scores 0)."""
    qids = list(relevant)
    if any(not relevant[q] for q in qids):
        raise ValueError("a query needs at least one relevant document to be evaluated")
    hits = hit_matrix([rankings.get(q, []) for q in qids], [relevant[q] for q in qids], spec.max_k)
    arrays = metrics_from_hits(hits, np.array([len(relevant[q]) for q in qids]), spec)
    return {q: {name: float(values[i]) for name, values in arrays.items()} for i, q in enumerate(qids)}


def compute_metrics(ranking: Sequence[str], relevant: set[str], spec: MetricSpec = RETRIEVAL_METRICS) -> dict[str, float]:
    """Metrics of one query's ranking (best first) against its relevant documents."""
    return per_query_metrics({"q": ranking}, {"q": relevant}, spec)["q"]


def mean_metrics(per_query: dict[str, dict[str, float]]) -> dict[str, float]:
    """Average each metric over queries (the system score)."""
    if not per_query:
        return {}
    keys = next(iter(per_query.values())).keys()
    return {key: float(np.mean([m[key] for m in per_query.values()])) for key in keys}


def metric_curves(rankings: dict[str, Sequence[str]], relevant: dict[str, set[str]], ks: Sequence[int]
                  ) -> dict[str, list[float]]:
    """Mean recall@k and NDCG@k for each k in ``ks`` over the queries in ``relevant`` (for the report's plots).

    One hit matrix per system, cumulated once: 100 cut-offs over 100,000 users stay a matter of seconds.
    """
    qids = [q for q, rel in relevant.items() if rel]
    if not qids:
        return {"recall": [0.0] * len(ks), "ndcg": [0.0] * len(ks)}
    depth = max(ks)
    hits = hit_matrix([list(rankings.get(q, [])) for q in qids], [relevant[q] for q in qids], depth)
    n_rel = np.array([len(relevant[q]) for q in qids])
    cum = hits.cumsum(axis=1)
    dcg = (hits * _discounts(depth)).cumsum(axis=1)
    ideal = _discounts(depth).cumsum()
    return {
        "recall": [float(np.mean(cum[:, k - 1] / n_rel)) for k in ks],
        "ndcg": [float(np.mean(dcg[:, k - 1] / ideal[np.minimum(k, n_rel) - 1])) for k in ks],
    }


def metric_at_k_curve(
    rankings: dict[str, Sequence[str]], relevant: dict[str, set[str]], metric: str, ks: Sequence[int]
) -> list[float]:
    """Mean recall@k or ndcg@k for each k in ``ks`` (for plots)."""
    if metric not in ("recall", "ndcg"):
        raise ValueError(f"unknown curve metric {metric!r}")
    return metric_curves(rankings, relevant, ks)[metric]
