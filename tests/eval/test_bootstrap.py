from __future__ import annotations

import numpy as np

from embedtune.eval.bootstrap import BETTER, SAME, WORSE, compare, paired_bootstrap


def test_clear_improvement_is_better_and_noise_is_not():
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, 300)
    assert compare("m", "b", "ndcg@10", np.clip(base + 0.1, 0, 1.1), base).verdict == BETTER
    assert compare("m", "b", "ndcg@10", base - 0.1, base).verdict == WORSE
    noisy = base + rng.normal(0, 0.2, 300)
    noisy -= noisy.mean() - base.mean()  # zero mean difference
    assert compare("m", "b", "ndcg@10", noisy, base).verdict == SAME


def test_ci_contains_mean_and_is_reproducible():
    a, b = np.array([1.0, 0.0, 1.0, 1.0]), np.array([0.0, 0.0, 1.0, 0.0])
    mean, lo, hi = paired_bootstrap(a, b, n_resamples=2000, seed=3)
    assert lo <= mean <= hi and mean == 0.5
    assert paired_bootstrap(a, b, n_resamples=2000, seed=3) == (mean, lo, hi)
    assert paired_bootstrap(a[:1], b[:1]) == (1.0, 1.0, 1.0)  # one query: its difference, no spread
    c = compare("m", "b", "ndcg@10", a, b)
    assert (c.wins, c.ties, c.losses) == (2, 2, 0)


def test_scipy_paired_bootstrap_gives_the_cis_of_plain_resampling():
    """Every CI published before the switch to scipy.stats.bootstrap came from this resampling loop."""
    rng = np.random.default_rng(7)
    a, b = rng.random(2500), rng.random(2500) * 0.95
    diff = a - b
    draws = np.random.default_rng(0)
    block = 2_000_000 // diff.size
    means = np.concatenate([diff[draws.integers(0, diff.size, size=(min(block, 10_000 - s), diff.size))].mean(axis=1)
                            for s in range(0, 10_000, block)])
    _, lo, hi = paired_bootstrap(a, b, n_resamples=10_000, seed=0)
    assert (lo, hi) == (np.quantile(means, 0.025), np.quantile(means, 0.975))
