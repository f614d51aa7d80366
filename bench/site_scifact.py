"""Corpus-only adaptation on SciFact: does the site pipeline help on real questions?

Builds training pairs from SciFact's ``corpus.jsonl`` alone (no real queries, no qrels) with
``embedtune site build``, fine-tunes with ``embedtune train`` on the generated ``pairs.jsonl``, and
scores the tuned model on SciFact's 300 real test queries with ``embedtune eval`` (beside the base
model and BM25). Each variant is one generator set; results go to ``bench/data/site_scifact/``.

Run (CPU-heavy, ~20-40 min per variant on 2 shared cores)::

    HF_HUB_OFFLINE=1 /work/heavy .venv/bin/python bench/site_scifact.py --variant defaults --pairs 1500 --max-tokens 512

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
    # the defaults of `site build` + `train` on site data: no --generators, --hard-negatives or --merge-base flag
    "defaults": None,
    "default": "headings,keywords,sentences",  # the defaults before they were chosen from these benchmarks
    "templates": "templates",
    "sentences": "sentences",
    "keywords": "keywords",
    "headings": "headings",
    "titles-cloze": "titles,cloze",
    "cloze": "cloze",
    "adapt": "titles,cloze,headings",
    "mixed": "titles,cloze,headings,keywords,sentences",  # the defaults' cut-out queries plus the old generators
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
    parser.add_argument("--hard-negatives", type=int, default=None,
                        help="mined per pair from the site's passages (default: what the DATA_DIR recommends)")
    parser.add_argument("--merge-base", type=float, default=None,
                        help="also score the model interpolated with the base model at this weight (embedtune merge)")
    parser.add_argument("--tag", default="", help="suffix for the output folders (several runs of one variant)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--max-tokens", type=int, default=None,
                        help="passage size for site build (default: max-seq-length; 512 keeps most abstracts whole)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scifact", type=Path, default=SCIFACT, help="SciFact in BEIR layout (corpus + test qrels)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the DATA_DIRs, models and evaluations")
    args = parser.parse_args()
    scifact, out = args.scifact.resolve(), args.out.resolve()
    variants = args.variant or ["defaults"]
    out.mkdir(parents=True, exist_ok=True)
    for variant in variants:
        log: list[dict] = []
        name = f"{variant}{args.tag}"
        data = out / f"data-{variant}"
        model = out / f"model-{name}"
        generators = ["--generators", VARIANTS[variant]] if VARIANTS[variant] else []
        run([*EMBEDTUNE, "site", "build", scifact / "corpus.jsonl", "-o", data, *generators,
             "--max-train-pairs", args.pairs, "--max-tokens", args.max_tokens or args.max_seq_length, "--seed", args.seed,
             "--overwrite", "--quiet"], log)
        # Training on the DATA_DIR reads its pairs.jsonl; with hard negatives they are mined from its
        # passages (the whole SciFact corpus, never the test queries). Settings left out here are the
        # ones the DATA_DIR recommends (embedtune.json → recommended_training).
        negatives = ["--hard-negatives", args.hard_negatives] if args.hard_negatives is not None else []
        run([*EMBEDTUNE, "train", "--data", data, "--output", model, "--epochs", args.epochs, *negatives,
             "--batch-size", args.batch_size, "--lr", args.lr, "--max-seq-length", args.max_seq_length,
             "--seed", args.seed, "--quiet"], log)
        candidates = [(name, model)]
        if args.merge_base is not None:
            merged = out / f"model-{name}-merge{args.merge_base:g}"
            run([*EMBEDTUNE, "merge", "--model", model, "--alpha", args.merge_base, "--output", merged,
                 "--overwrite"], log)
            candidates.append((f"{name}-merge{args.merge_base:g}", merged))
        manifest = json.loads((data / "embedtune.json").read_text())
        for label, path in candidates:
            evaluation = out / f"eval-{label}"
            run([*EMBEDTUNE, "eval", "--model", path, "--data", scifact, "--split", "test", "--output", evaluation,
                 "--quiet"], log)
            result = json.loads((evaluation / "eval.json").read_text())
            summary = {
                "variant": variant,
                "model": str(path),
                "generators": manifest["generators"],
                "train_pairs": manifest["counts"]["train_pairs"],
                "query_generation": manifest["query_generation"],
                "ndcg@10": {system: round(m["ndcg@10"], 4) for system, m in result["systems"].items()},
                "fusion": result.get("fusion", {}),
                "recall@10": {system: round(m["recall@10"], 4) for system, m in result["systems"].items()},
                "comparisons": result["comparisons"],
                "verdict": result["verdict"],
                "commands": log,
            }
            (out / f"result-{label}.json").write_text(json.dumps(summary, indent=2) + "\n")
            print(json.dumps({k: summary[k] for k in ("model", "train_pairs", "ndcg@10", "verdict")}), flush=True)


if __name__ == "__main__":
    main()
