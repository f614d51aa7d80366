"""Benchmark: build a recsys DATA_DIR from a 10-million-event log on this machine.

Generates a synthetic shop log (Parquet) with ``embedtune.recsys.generate`` and times
``build_recsys`` stage by stage; prints one JSON line per run. Not a test.

    nice -n 10 .venv/bin/python bench/recsys_scale.py --events 10000000 --out bench/out/recsys_scale
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

from embedtune.recsys.build import build_recsys
from embedtune.recsys.config import RecsysConfig
from embedtune.recsys.generate import generate_shop, write_shop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="approximate number of log rows")
    parser.add_argument("--events-per-user", type=float, default=34.0, help="mean clicks per user")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--max-train-per-user", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/out/recsys_scale"))
    parser.add_argument("--keep", action="store_true", help="keep the generated files and DATA_DIR")
    args = parser.parse_args()

    # Clicks plus ~20% funnel events (cart/fav/buy) per click.
    n_users = max(1, int(args.events / (args.events_per_user * 1.2)))
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    shop = generate_shop(n_users=n_users, n_items=args.items, n_categories=20, events_per_user=args.events_per_user, seed=0)
    t_gen = time.perf_counter() - t0
    paths = write_shop(shop, args.out / "raw", fmt="parquet")
    rows = len(shop.log)
    del shop
    t_write = time.perf_counter() - t0 - t_gen

    t1 = time.perf_counter()
    report = build_recsys(
        paths["log"], paths["items"], args.out / "data",
        config=RecsysConfig(max_train_per_user=args.max_train_per_user), progress=False,
    )
    t_build = time.perf_counter() - t1
    sizes = {p.name: p.stat().st_size for p in (args.out / "data").iterdir() if p.is_file()}
    print(json.dumps({
        "log_rows": rows,
        "users": report.load.users,
        "catalog_items": report.load.catalog_items,
        "queries": {"train": report.split.train_targets, "dev": report.split.dev_queries, "test": report.split.test_queries},
        "generate_s": round(t_gen, 1),
        "write_parquet_s": round(t_write, 1),
        "build_s": round(t_build, 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "output_bytes": sizes,
    }))
    if not args.keep:
        shutil.rmtree(args.out / "raw", ignore_errors=True)
        shutil.rmtree(args.out / "data", ignore_errors=True)


if __name__ == "__main__":
    main()
