"""Benchmark: the seed project's scenario — 200 users, 500 items, uniformly random clicks, no attributes.

Nothing in such a log can be learned: every profile field is "unk" and the items differ only by
their IDs. An honest toolkit must say so: chance-level Recall@10 (≈ 10/500), a verdict of no
detectable difference, and the data doctor's warnings — not a success story. Not a test::

    nice -n 10 .venv/bin/python bench/recsys_seed_scenario.py

Steps: generate (``embedtune.recsys.generate``, uniform clicks, catalog of ids only), then the public
commands ``embedtune recsys build``, ``embedtune doctor``, ``embedtune train``, ``embedtune eval``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from embedtune.recsys.generate import generate_shop, write_shop

ROOT = Path(__file__).resolve().parent.parent
EMBEDTUNE = [sys.executable, "-m", "embedtune"]


def run(cmd: list[str], log: list[dict], capture: bool = False) -> str:
    printable = " ".join(shlex.quote(c) for c in ["embedtune", *cmd[len(EMBEDTUNE):]])
    print(f"$ {printable}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1"}, text=True,
                          capture_output=capture, check=False)
    log.append({"command": printable, "seconds": round(time.perf_counter() - t0, 1), "rc": proc.returncode})
    if capture:
        print(proc.stdout + proc.stderr)
        return proc.stdout + proc.stderr
    if proc.returncode != 0:
        sys.exit(f"command failed with exit code {proc.returncode}")
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "seed_scenario")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--clicks-per-user", type=float, default=20.0)
    parser.add_argument("--max-train-per-user", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    shop = generate_shop(n_users=args.users, n_items=args.items, events_per_user=args.clicks_per_user,
                         uniform=True, attributes=False, seed=args.seed)
    shop.log = shop.log[shop.log.action_type == 0].reset_index(drop=True)  # clicks only, as in the seed's demo
    paths = write_shop(shop, args.out / "raw")
    data, model, evaluation = args.out / "data", args.out / "model", args.out / "eval"
    log: list[dict] = []
    run([*EMBEDTUNE, "recsys", "build", "--log", str(paths["log"]), "--items", str(paths["items"]), "-o", str(data),
         "--max-train-per-user", str(args.max_train_per_user), "--overwrite"], log, capture=True)
    doctor = run([*EMBEDTUNE, "doctor", str(data)], log, capture=True)
    run([*EMBEDTUNE, "train", "--data", str(data), "--output", str(model), "--epochs", str(args.epochs),
         "--batch-size", "32", "--max-seq-length", "128", "--force", "-q"], log)
    run([*EMBEDTUNE, "eval", "--model", str(model), "--data", str(data), "--split", "test", "--output",
         str(evaluation), "-q"], log)
    result = json.loads((evaluation / "eval.json").read_text())
    n_items = result["n_corpus"]
    print(f"\nSeed scenario: {result['n_queries']} test users, {n_items} items, uniformly random clicks, no attributes")
    print(f"chance Recall@10 ≈ 10/{n_items} = {10 / n_items:.4f}\n")
    print("| system | Recall@10 | NDCG@10 |")
    print("|---|---|---|")
    for name, metrics in result["systems"].items():
        print(f"| {name} | {metrics['recall@10']:.4f} | {metrics['ndcg@10']:.4f} |")
    for comp in result.get("comparisons", []):
        print(f"- {comp['system']} vs {comp['baseline']} ({comp['metric']}): {comp['mean_diff']:+.4f} "
              f"[{comp['ci_low']:+.4f}, {comp['ci_high']:+.4f}] → {comp['verdict']}")
    print(f"\nverdict: {result.get('verdict')}")
    for warning in result.get("warnings", []):
        print(f"warning: {warning}")
    if "hybrid" in result.get("fusion", {}):
        fusion = result["fusion"]["hybrid"]
        print(f"hybrid fusion: {fusion['method']} {fusion['norm']} {fusion['weights']} (dev: {fusion['dev_metric']})")
    train_log = model / "train_log.json"
    if train_log.is_file():
        print("train_log:", train_log.read_text()[:2000])
    (args.out / "bench.json").write_text(json.dumps({"runs": log, "doctor": doctor, "eval": result}, indent=2))


if __name__ == "__main__":
    main()
