"""fuse_runs(..., k) reads back only a query's top k from ranx (the served hybrid's speed): it must give
exactly the full fused ranking cut at k, ties at the cut included, for one query and for many."""

from __future__ import annotations

import numpy as np
import pytest

from embedtune.fusion import FusionSpec, fuse_runs

SPECS = [FusionSpec(method="wsum", norm="zmuv", weights={"model": 0.5, "bm25": 0.5}),
         FusionSpec(method="wsum", norm="min-max", weights={"model": 0.3, "bm25": 0.7}),
         FusionSpec(method="rrf", norm=None, rrf_k=60, weights={"model": 1.0, "bm25": 1.0})]


def tied_runs(n_queries: int, seed: int = 0) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """Coarse scores (two decimals; BM25-like integers), so many fused scores tie."""
    rng = np.random.default_rng(seed)
    runs: dict[str, dict[str, list[tuple[str, float]]]] = {"model": {}, "bm25": {}}
    for q in range(n_queries):
        docs = [f"d{i}" for i in rng.choice(300, 150, replace=False)]
        dense = [(d, float(np.round(rng.random(), 2))) for d in docs[:100]]
        lexical = [(d, float(rng.integers(0, 4))) for d in docs[50:]]
        runs["model"][f"q{q}"] = sorted(dense, key=lambda x: (-x[1], x[0]))
        runs["bm25"][f"q{q}"] = sorted(lexical, key=lambda x: (-x[1], x[0]))
    return runs


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe())
@pytest.mark.parametrize("n_queries", [1, 80])
def test_top_k_is_the_full_ranking_cut_at_k(spec: FusionSpec, n_queries: int):
    runs = tied_runs(n_queries)
    full = fuse_runs(spec, runs)
    assert all(len(ranking) > 100 for ranking in full.values())
    for k in (1, 7, 10, 100):
        assert fuse_runs(spec, runs, k=k) == {q: ranking[:k] for q, ranking in full.items()}
