"""Benchmark (DEV split only): the five-part weight search coarse to fine vs ranx's full 0.1 grid.

``embedtune.fusion.choose_fusion`` searches more than ``FULL_GRID_MAX_PARTS`` parts coarse to fine. This
script runs it both ways on the same dev runs (each part's top 100, history excluded, as ``embedtune eval``
ranks them: ``recsys_cold_dev.dev_part_runs``) and prints the chosen weights, the dev NDCG@10 of the
hybrid, the number of weightings scored and the seconds each search took. The test split is never read::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python bench/recsys_fusion_search.py \\
        --data bench/out/shop0/data --model bench/out/shop0/model
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from recsys_cold_dev import dev_part_runs  # bench/ is on sys.path when a bench script runs
from recsys_fusion_cv import PARTS

import embedtune.fusion as fusion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    dev, _, _, _, runs = dev_part_runs(args.data, args.model, fusion.DEFAULT_DEPTH)
    qrels = {q: dev.qrels[q] for q in dev.query_ids}
    coarse_to_fine = fusion.FULL_GRID_MAX_PARTS
    for label, max_parts in (("coarse to fine", coarse_to_fine), ("full grid", len(PARTS))):
        fusion.FULL_GRID_MAX_PARTS = max_parts
        t = time.perf_counter()
        spec = fusion.choose_fusion({p: runs[p] for p in PARTS}, qrels, split="dev", norms=("zmuv",),
                                    default=fusion.DEFAULT_RECSYS_FUSION)
        print(f"{label}: {spec.describe()} | dev {spec.dev_metric['hybrid']:.6f} | {spec.note} | "
              f"{time.perf_counter() - t:.0f} s", flush=True)
    fusion.FULL_GRID_MAX_PARTS = coarse_to_fine


if __name__ == "__main__":
    main()
