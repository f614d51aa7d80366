"""Paired bootstrap over queries: is the difference between two systems more than noise?

Both systems are scored on the same queries; resampling queries with replacement (10,000 times by
default) gives the distribution of the mean per-query difference. The 95% percentile interval is the
CI; a verdict is "better" when it lies above zero, "worse" when below, else "no detectable
difference" (Efron & Tibshirani 1993; Sakai 2006 for its use in IR evaluation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

BETTER, SAME, WORSE = "better", "no detectable difference", "worse"


@dataclass(frozen=True)
class Comparison:
    system: str
    baseline: str
    metric: str
    system_score: float
    baseline_score: float
    mean_diff: float
    ci_low: float
    ci_high: float
    verdict: str
    n_queries: int
    wins: int
    ties: int
    losses: int

    def to_dict(self) -> dict:
        return asdict(self)

    def sentence(self) -> str:
        sign = "+" if self.mean_diff >= 0 else ""
        return (
            f"{self.system} vs {self.baseline}: {self.verdict} ({self.metric} {self.system_score:.4f} vs "
            f"{self.baseline_score:.4f}, diff {sign}{self.mean_diff:.4f}, 95% CI [{self.ci_low:+.4f}, {self.ci_high:+.4f}])"
        )


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, n_resamples: int = 10_000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``a - b`` and its paired-bootstrap percentile CI (``scipy.stats.bootstrap``, ``paired=True``)."""
    from scipy.stats import bootstrap

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no queries to compare")
    if a.size == 1:  # every resample is that one query (scipy needs two observations)
        d = float(a[0] - b[0])
        return d, d, d

    def mean_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(x - y, axis=axis)

    result = bootstrap(
        (a, b), mean_diff, paired=True, vectorized=True, n_resamples=n_resamples, confidence_level=confidence,
        method="percentile", rng=np.random.default_rng(seed),
        batch=max(1, 2_000_000 // a.size),  # bounds memory for large query sets (100k users: 20 rows at a time)
    )
    return float(np.mean(a - b)), float(result.confidence_interval.low), float(result.confidence_interval.high)


def verdict(ci_low: float, ci_high: float) -> str:
    if ci_low > 0:
        return BETTER
    if ci_high < 0:
        return WORSE
    return SAME


def on_generated_queries(verdict_: str) -> str:
    """A verdict measured on generated queries, worded so it never reads as a conclusion about real users."""
    return {BETTER: "higher on generated queries", WORSE: "lower on generated queries"}.get(verdict_, verdict_)


def compare(
    system: str,
    baseline: str,
    metric: str,
    system_scores: np.ndarray,
    baseline_scores: np.ndarray,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    mean_diff, lo, hi = paired_bootstrap(system_scores, baseline_scores, n_resamples=n_resamples, seed=seed)
    diff = np.asarray(system_scores) - np.asarray(baseline_scores)
    eps = 1e-9
    return Comparison(
        system=system,
        baseline=baseline,
        metric=metric,
        system_score=float(np.mean(system_scores)),
        baseline_score=float(np.mean(baseline_scores)),
        mean_diff=mean_diff,
        ci_low=lo,
        ci_high=hi,
        verdict=verdict(lo, hi),
        n_queries=int(diff.size),
        wins=int((diff > eps).sum()),
        ties=int((np.abs(diff) <= eps).sum()),
        losses=int((diff < -eps).sum()),
    )
