"""A site with a search log: train on some real searches, choose on others, judge on the rest (SciFact).

SciFact stands in for a site whose search box logged what visitors typed and which page they opened: each
claim (train and test qrels, 1,105 distinct) is a search, each cited abstract its click. The script writes
that log as ``searches.csv`` and builds two DATA_DIRs from SciFact's ``corpus.jsonl`` with ``embedtune site
build`` (default generators, ``--max-train-pairs 1500``, 512-token passages):

- ``data``: ``--search-log searches.csv --real-train-fraction 0.6 --real-dev-fraction 0.1`` — the searches
  split by question (train 663, dev 110, test 332);
- ``data-gen``: the control, the same folder without the real training searches (``pairs.jsonl`` = the 1,500
  generated pairs, no ``qrels/train.tsv``): what the site path gives without a log to train on, judged by the
  same dev and test searches.

Then (``--run``) it trains on each with ``embedtune train`` (the site defaults: a mined hard negative, weights
merged 0.5 with the base model; ``--final-split dev``, so the test split is read only by the two final
``embedtune eval`` runs)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/site_searchlog.py --out bench/out/sf-log            # data only
    HF_HUB_OFFLINE=1 .venv/bin/python bench/site_searchlog.py --out bench/out/sf-log --run      # ~1 h on 2 cores

Results: docs/benchmarks.md, "Site with a search log".
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

from embedtune.data.beir import read_qrels, read_queries

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "data" / "scifact"
EMBEDTUNE = [sys.executable, "-m", "embedtune"]


def write_search_log(scifact: Path, path: Path) -> int:
    """One row per (claim, cited abstract) of SciFact's train and test qrels; returns the rows."""
    texts = read_queries(scifact / "queries.jsonl")
    rows = [(texts[qid], doc) for split in ("train", "test")
            for qid, judged in read_qrels(scifact / "qrels" / f"{split}.tsv").items()
            for doc, grade in judged.items() if grade > 0]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query", "page_id"])
        writer.writerows(rows)
    return len(rows)


def without_real_training(data: Path, control: Path) -> None:
    """``control`` = ``data`` minus its real training searches: the generated pairs only, no train qrels."""
    shutil.rmtree(control, ignore_errors=True)
    shutil.copytree(data, control)
    manifest = json.loads((control / "embedtune.json").read_text())
    n_generated = manifest["counts"]["train_pairs"] - manifest["counts"]["train_pairs_real"]
    lines = (control / "pairs.jsonl").read_text().splitlines(keepends=True)
    (control / "pairs.jsonl").write_text("".join(lines[:n_generated]))  # split.py writes the real pairs last
    (control / "qrels" / "train.tsv").unlink()
    manifest["query_origin"]["train"] = "generated"
    manifest["counts"].update(train_pairs=n_generated, train_pairs_real=0)
    manifest["note"] = "bench control: the search-log build minus its real training searches"
    (control / "embedtune.json").write_text(json.dumps(manifest, indent=1))


def run(*args: object) -> None:
    print("$ embedtune " + " ".join(map(str, args)), flush=True)
    subprocess.run([*EMBEDTUNE, *map(str, args)], check=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--run", action="store_true", help="also train and evaluate (CPU-heavy)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "searches.csv"
    print(f"{write_search_log(args.scifact, log)} searches written to {log}")
    data, control = args.out / "data", args.out / "data-gen"
    run("site", "build", args.scifact / "corpus.jsonl", "-o", data, "--search-log", log, "--real-train-fraction", 0.6,
        "--real-dev-fraction", 0.1, "--max-train-pairs", 1500, "--max-tokens", 512, "--overwrite", "-q")
    without_real_training(data, control)
    if not args.run:
        return
    for folder, model in ((data, "model-log"), (control, "model-gen")):
        run("train", "--data", folder, "--output", args.out / model, "--final-split", "dev", "--overwrite", "-q")
    for folder, model in ((data, "model-log"), (control, "model-gen")):
        run("eval", "--model", args.out / model, "--data", folder, "--split", "test", "--output",
            args.out / f"eval-test-{model.removeprefix('model-')}", "--overwrite", "-q")


if __name__ == "__main__":
    main()
