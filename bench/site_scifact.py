"""Corpus-only adaptation on SciFact: does the site pipeline help on real questions?

Builds training pairs from SciFact's ``corpus.jsonl`` alone (no real queries, no qrels) with
``embedtune site build``, fine-tunes with ``embedtune train`` on the generated ``pairs.jsonl``, and
scores the tuned model on SciFact's 300 real test queries with ``embedtune eval`` (beside the base
model and BM25). Each variant is one generator set; results go to ``bench/data/site_scifact/``.

Run (CPU-heavy, ~20-40 min per variant on 2 shared cores)::

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python bench/site_scifact.py --variant default --variant templates

Then copy the printed table into the ``## Site`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "data" / "scifact"
OUT = ROOT / "bench" / "data" / "site_scifact"
EMBEDTUNE = [sys.executable, "-m", "embedtune"]

VARIANTS = {
    "default": "headings,keywords,sentences",
    "templates": "templates",
    "sentences": "sentences",
    "keywords": "keywords",
    "headings": "headings",
    "titles-cloze": "titles,cloze",
    "cloze": "cloze",
    "adapt": "titles,cloze,headings",
}


def run(cmd: list[str], log: list[dict]) -> float:
    printable = " ".join(shlex.quote(str(c)) for c in cmd).replace(sys.executable + " -m embedtune", "embedtune")
    print(f"$ {printable}", flush=True)
    started = time.perf_counter()
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    log.append({"command": printable, "seconds": round(seconds, 1)})
    print(f"  ({seconds:.0f} s)", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="generator set(s) to run")
    parser.add_argument("--pairs", type=int, default=2500, help="training pairs (a seeded sample)")
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--hard-negatives", type=int, default=0, help="mined per pair from the site's passages")
    parser.add_argument("--merge-base", type=float, default=None,
                        help="also score the model interpolated with the base model at this weight (embedtune merge)")
    parser.add_argument("--tag", default="", help="suffix for the output folders (several runs of one variant)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--max-tokens", type=int, default=None,
                        help="passage size for site build (default: max-seq-length; 512 keeps most abstracts whole)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    variants = args.variant or ["default", "templates"]
    OUT.mkdir(parents=True, exist_ok=True)
    for variant in variants:
        log: list[dict] = []
        name = f"{variant}{args.tag}"
        data = OUT / f"data-{variant}"
        model = OUT / f"model-{name}"
        run([*EMBEDTUNE, "site", "build", SCIFACT / "corpus.jsonl", "-o", data, "--generators", VARIANTS[variant],
             "--max-train-pairs", args.pairs, "--max-tokens", args.max_tokens or args.max_seq_length, "--seed", args.seed,
             "--overwrite", "--quiet"], log)
        # Training on the DATA_DIR reads its pairs.jsonl; with --hard-negatives the negatives are mined
        # from its passages (the whole SciFact corpus, never the test queries).
        run([*EMBEDTUNE, "train", "--data", data, "--output", model, "--epochs", args.epochs,
             "--hard-negatives", args.hard_negatives,
             "--batch-size", args.batch_size, "--lr", args.lr, "--max-seq-length", args.max_seq_length,
             "--seed", args.seed, "--quiet"], log)
        candidates = [(name, model)]
        if args.merge_base is not None:
            merged = OUT / f"model-{name}-merge{args.merge_base:g}"
            run([*EMBEDTUNE, "merge", "--model", model, "--alpha", args.merge_base, "--output", merged,
                 "--overwrite"], log)
            candidates.append((f"{name}-merge{args.merge_base:g}", merged))
        manifest = json.loads((data / "embedtune.json").read_text())
        for label, path in candidates:
            evaluation = OUT / f"eval-{label}"
            run([*EMBEDTUNE, "eval", "--model", path, "--data", SCIFACT, "--split", "test", "--output", evaluation,
                 "--quiet"], log)
            result = json.loads((evaluation / "eval.json").read_text())
            summary = {
                "variant": variant,
                "model": str(path),
                "generators": manifest["generators"],
                "train_pairs": manifest["counts"]["train_pairs"],
                "query_generation": manifest["query_generation"],
                "ndcg@10": {system: round(m["ndcg@10"], 4) for system, m in result["systems"].items()},
                "recall@10": {system: round(m["recall@10"], 4) for system, m in result["systems"].items()},
                "comparisons": result["comparisons"],
                "verdict": result["verdict"],
                "commands": log,
            }
            (OUT / f"result-{label}.json").write_text(json.dumps(summary, indent=2) + "\n")
            print(json.dumps({k: summary[k] for k in ("model", "train_pairs", "ndcg@10", "verdict")}), flush=True)


if __name__ == "__main__":
    main()
