"""Honest evaluation: IR metrics, baselines on the same split, paired bootstrap CIs and a verdict."""

from embedtune.eval.evaluate import EvalResult, evaluate, write_eval
from embedtune.eval.systems import BM25System, DenseSystem, RankingSystem, Run, top_k_from_scores
from embedtune.metrics import MetricSpec, compute_metrics

__all__ = [
    "BM25System",
    "DenseSystem",
    "EvalResult",
    "MetricSpec",
    "RankingSystem",
    "Run",
    "compute_metrics",
    "evaluate",
    "top_k_from_scores",
    "write_eval",
]
