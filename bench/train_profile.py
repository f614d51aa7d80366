"""Where a CPU training step goes: one MNRL step of all-MiniLM-L6-v2 on SciFact pairs, by variant and by op.

Times forward + backward + AdamW of batches of 32 SciFact train pairs (max_seq_length 256) in four
variants, interleaved (fp32 / bf16 encoder autocast × attention dropout 0.1 / 0), then prints
torch.profiler's top operators for one step of ``--profile`` (default: bf16 with attention dropout,
the state before attention dropout was turned off).

    python bench/train_profile.py --rounds 2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

VARIANTS = {  # name: (bf16 encoder autocast, attention dropout)
    "fp32, attention dropout 0.1": (False, 0.1),
    "bf16, attention dropout 0.1": (True, 0.1),
    "bf16, attention dropout 0": (True, 0.0),
    "fp32, attention dropout 0": (False, 0.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scifact", type=Path, default=Path("/work/shared/data/scifact"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", choices=list(VARIANTS), default="bf16, attention dropout 0.1")
    args = parser.parse_args()

    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from torch.profiler import ProfilerActivity, profile

    from embedtune.base_model import load_model
    from embedtune.data.pairs import beir_training_pairs
    from embedtune.training.attention import attention_dropout
    from embedtune.training.precision import Precision, encoder_autocast

    torch.manual_seed(0)
    pairs = beir_training_pairs(args.scifact)[:96]
    model = load_model("all-MiniLM-L6-v2", max_seq_length=256)
    loss_fn = MultipleNegativesRankingLoss(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model.train()
    batches = [pairs[i:i + 32] for i in range(0, 96, 32)]

    def step(batch, bf16: bool, dropout: float) -> float:
        features = [model.tokenize([p.anchor for p in batch]), model.tokenize([p.positive for p in batch])]
        precision = Precision("bf16" if bf16 else "fp32", "cpu", "bench")
        start = time.perf_counter()
        with encoder_autocast(model, precision), attention_dropout(model, dropout):
            loss = loss_fn(features, None)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return time.perf_counter() - start

    for bf16, dropout in VARIANTS.values():  # warm-up: one-time kernel setup is not timed
        step(batches[0], bf16, dropout)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, (bf16, dropout) in VARIANTS.items():
            times[name] += [step(b, bf16, dropout) for b in batches[1:]]
    print(f"torch threads: {torch.get_num_threads()}; seconds per step (mean of {2 * args.rounds}):")
    reference = sum(times["fp32, attention dropout 0.1"]) / len(times["fp32, attention dropout 0.1"])
    for name, values in times.items():
        mean = sum(values) / len(values)
        print(f"  {name:30s} {mean:6.2f} s   {reference / mean:4.2f}x")

    bf16, dropout = VARIANTS[args.profile]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(batches[1], bf16, dropout)
    print(f"\ntop operators, one step of {args.profile}:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
