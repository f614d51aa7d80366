"""Corpus-only training that complements BM25: synthetic pairs BM25 cannot solve, BM25-hard negatives.

The corpus-only SciFact fine-tune (site build defaults) adds nothing to the hybrid: its gains over the
base model fall on claims BM25 already ranks well, its losses on those BM25 misses (docs/benchmarks.md,
"Hybrid"). This variant keeps only the generated pairs whose source passage is *not* BM25's top
result for the query (vocabulary the model must bridge, not words it can match) and gives each the
passage BM25 ranks first as its hard negative (DPR's BM25 negatives, Karpukhin et al. 2020). Then the
same training (1 epoch, lr 2e-5, merged 0.5 with the base model) and the same evaluation on SciFact's
300 real test claims, beside ``base_hybrid``.

    HF_HUB_OFFLINE=1 /work/heavy .venv/bin/python bench/site_complement.py --scifact ../shared/data/scifact
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMBEDTUNE = [sys.executable, "-m", "embedtune"]


def run(cmd: list) -> None:
    print("$ " + " ".join(shlex.quote(str(c)) for c in cmd).replace(sys.executable + " -m embedtune", "embedtune"),
          flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT)


def complement_pairs(data: Path, n_pairs: int, seed: int) -> tuple[list[dict], dict]:
    """Training pairs whose passage BM25 does not rank first, each with BM25's first passage as its negative."""
    import numpy as np

    from embedtune.data import read_corpus
    from embedtune.data.beir import load_retrieval_split
    from embedtune.data.pairs import load_training_pairs
    from embedtune.eval.systems import BM25System

    corpus = read_corpus(data / "corpus.jsonl")
    train = load_retrieval_split(data, "train", corpus=corpus)
    pairs = load_training_pairs(data / "pairs.jsonl")
    positive_of = {p.anchor: p.positive for p in pairs}
    run_ = BM25System().rank(train, 10)
    kept, ranks = [], []
    for qid in train.query_ids:
        source = next(iter(train.relevant(qid)))
        ranked = [d for d, _ in run_[qid]]
        ranks.append(ranked.index(source) + 1 if source in ranked else 11)
        if ranked and ranked[0] != source:
            anchor = train.queries[qid]
            kept.append({"anchor": anchor, "positive": positive_of[anchor],
                         "negative": corpus[ranked[0]].full_text})
    ranks = np.array(ranks)
    stats = {"generated_pairs": len(train.query_ids), "bm25_top1": int((ranks == 1).sum()),
             "bm25_top10": int((ranks <= 10).sum()), "kept": len(kept)}
    random.Random(seed).shuffle(kept)
    return kept[:n_pairs], stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scifact", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "data" / "site_scifact")
    parser.add_argument("--pool", type=int, default=6000, help="generated pairs to choose from")
    parser.add_argument("--pairs", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    out, scifact = args.out.resolve(), args.scifact.resolve()
    data, model = out / "data-complement", out / "model-complement"
    run([*EMBEDTUNE, "site", "build", scifact / "corpus.jsonl", "-o", data, "--max-train-pairs", args.pool,
         "--max-tokens", 512, "--seed", args.seed, "--overwrite", "--quiet"])
    pairs, stats = complement_pairs(data, args.pairs, args.seed)
    print(json.dumps(stats), flush=True)
    pairs_file = out / "pairs-complement.jsonl"
    pairs_file.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    run([*EMBEDTUNE, "train", "--data", pairs_file, "--output", model, "--epochs", 1, "--batch-size", 32,
         "--lr", 2e-5, "--max-seq-length", 256, "--hard-negatives", 0, "--merge-base", 0.5, "--seed", args.seed,
         "--quiet"])
    run([*EMBEDTUNE, "eval", "--model", model, "--data", scifact, "--split", "test", "--output", out / "eval-complement",
         "--quiet"])
    result = json.loads((out / "eval-complement" / "eval.json").read_text())
    summary = {"pairs": stats, "ndcg@10": {s: round(m["ndcg@10"], 4) for s, m in result["systems"].items()},
               "verdict": result["verdict"]}
    (out / "result-complement.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
