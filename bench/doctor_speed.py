"""How long the data doctor takes, and what it finds, on SciFact and on a larger synthetic set.

The doctor runs before every fine-tune, so it must stay small next to training (SciFact trains at
2-4 pairs/s here: minutes to hours). Usage::

    nice -n 10 .venv/bin/python bench/doctor_speed.py [--scifact ../shared/data/scifact] [--pairs 20000]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from embedtune.data import Document, Pair, RetrievalSplit
from embedtune.doctor import diagnose, diagnose_path, load_base_tokenizer


def synthetic(n_pairs: int, seed: int = 0) -> tuple[list[Pair], RetrievalSplit]:
    """Random-word pairs (12-word anchors, 150-word positives) and a 1,000-query eval split."""
    rng = random.Random(seed)
    vocab = [f"w{k}" for k in range(5000)]

    def sentence(n: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(n))

    pairs = [Pair(sentence(12), sentence(150)) for _ in range(n_pairs)]
    docs = {f"d{k}": Document(id=f"d{k}", text=sentence(150)) for k in range(3000)}
    queries = {f"q{k}": sentence(12) for k in range(1000)}
    split = RetrievalSplit("test", docs, queries, {f"q{k}": {f"d{k}": 1} for k in range(1000)})
    return pairs, split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scifact", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/scifact"
    )
    parser.add_argument("--pairs", type=int, default=20_000)
    args = parser.parse_args()

    start = time.perf_counter()
    tokenizer = load_base_tokenizer()
    print(f"tokenizer load: {time.perf_counter() - start:.1f} s")

    if args.scifact.is_dir():
        start = time.perf_counter()
        report = diagnose_path(args.scifact, tokenizer=tokenizer)
        print(
            f"SciFact ({report.stats['n_pairs']:,} pairs + test split): {time.perf_counter() - start:.1f} s"
        )
        print(report.to_markdown())

    pairs, split = synthetic(args.pairs)
    start = time.perf_counter()
    report = diagnose(pairs, eval_splits=[split], tokenizer=tokenizer)
    elapsed = time.perf_counter() - start
    print(
        f"synthetic ({len(pairs):,} pairs, 3,000-doc eval corpus): {elapsed:.1f} s, {len(pairs) / elapsed:,.0f} pairs/s"
    )
    print("findings:", [f.code for f in report.findings])


if __name__ == "__main__":
    main()
