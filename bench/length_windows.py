"""Length grouping: what the sorting window does to padding and to the randomness of in-batch negatives.

For each workload's real training pairs (tokenised as in training) and each window size, plans the
batches of ``--epochs`` epochs with :func:`embedtune.training.sampler.plan_batches` and reports

- ``padding``: the share of the token positions of all columns' padded batches that are padding
  (what the compute goes to; random batches = no grouping);
- ``same_batch_again``: of the pairs of rows that share a batch in one epoch, the share that share a
  batch again in the next epoch. Random batches: about (batch - 1) / (rows - 1). A window that spans the
  whole epoch sorts every epoch the same way, so the same rows meet again and every epoch trains
  against nearly the same in-batch negatives.

    python bench/length_windows.py --out bench/out/length-windows.json

Workloads: SciFact train (claims -> abstracts, 256 tokens), the bundled site's pairs (128), the demo
shop's profiles -> items (160). CPU-light (tokenisation only). Pairs without mined hard negatives
(mining needs the model): a hard-negative column of 256-token abstracts makes grouping save even less on
SciFact (its parity run's log: 8.0% random, 7.2% grouped). ``default`` = what ``train`` chooses
(:func:`embedtune.training.sampler.choose_grouping` at the default ``group_min_saving``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from itertools import combinations
from pathlib import Path

from embedtune.base_model import load_tokenizer
from embedtune.config import TrainConfig
from embedtune.training.prepare import load_inputs, to_dataset
from embedtune.training.sampler import (
    choose_grouping,
    column_token_lengths,
    padding_share,
    plan_batches,
    row_lengths,
    row_texts_of,
)

REPO = Path(__file__).resolve().parents[1]


def workloads(scifact: Path, tmp: Path) -> dict[str, tuple[Path, int]]:
    """Data folder and max_seq_length per workload (the site and shop data built as `make demo` builds them)."""
    cli = [sys.executable, "-m", "embedtune"]
    site, shop = tmp / "site", tmp / "shop"
    subprocess.run([*cli, "site", "build", str(REPO / "src/embedtune/examples/site"), "-o", str(site),
                    "--url", "https://quillnote.example/", "--questions",
                    str(REPO / "src/embedtune/examples/site/questions.jsonl"), "--quiet"], check=True)
    subprocess.run([*cli, "recsys", "generate", "-o", str(tmp / "raw"), "--users", "400", "--items", "200",
                    "--seed", "0"], check=True, capture_output=True)
    subprocess.run([*cli, "recsys", "build", "--log", str(tmp / "raw/log.csv"), "--items", str(tmp / "raw/items.csv"),
                    "-o", str(shop), "--max-train-per-user", "10", "--quiet"], check=True)
    return {"scifact": (scifact, 256), "site": (site, 128), "shop": (shop, 160)}


def co_batched(batches: list[list[int]]) -> set[tuple[int, int]]:
    return {pair for batch in batches for pair in combinations(sorted(batch), 2)}


def measure(column_lengths: list[list[int]], row_texts, batch_size: int, window_batches: int | None,
            epochs: int, seed: int) -> dict[str, float]:
    lengths = row_lengths(column_lengths)
    plans = [plan_batches(len(lengths), batch_size, seed=seed + epoch, row_texts=row_texts,
                          lengths=None if window_batches is None else lengths,
                          window_batches=window_batches or 1) for epoch in range(epochs)]
    padding = sum(padding_share(batches, column_lengths) for batches in plans) / epochs
    again = [len(co_batched(a) & co_batched(b)) / max(1, len(co_batched(a))) for a, b in zip(plans, plans[1:], strict=False)]
    return {"padding": round(padding, 4), "same_batch_again": round(sum(again) / len(again), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scifact", type=Path, default=Path("bench/out/sf-parity-eager/data"),
                        help="a BEIR folder with qrels/train.tsv (bench/scifact.py's split)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/length-windows.json"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--windows", default="none,4,8,16,64", help="window sizes in batches; none = random batches")
    args = parser.parse_args()
    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (data, max_len) in workloads(args.scifact, Path(tmp)).items():
            inputs = load_inputs(TrainConfig(data=[data], output=Path(tmp) / "unused"))
            dataset = to_dataset(next(iter(inputs.datasets.values())))
            column_lengths = column_token_lengths(dataset, tokenizer, max_len, ["label"])
            row_texts = row_texts_of(dataset, ["label"])
            choice = choose_grouping(column_lengths, args.batch_size, seed=42, row_texts=row_texts,
                                     min_saving=TrainConfig.model_fields["group_min_saving"].default)
            results[name] = {"pairs": len(dataset), "batches_per_epoch": -(-len(dataset) // args.batch_size),
                             "default": choice.describe(), "windows": {}}
            for window in args.windows.split(","):
                w = None if window == "none" else int(window)
                results[name]["windows"][window] = measure(column_lengths, row_texts, args.batch_size, w,
                                                           args.epochs, seed=42)
            print(name, json.dumps(results[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
