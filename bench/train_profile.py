"""Where a CPU training step goes: one MNRL step of all-MiniLM-L6-v2, by variant, by phase and by op.

Times forward, backward and AdamW of batches of 32 training pairs (default: SciFact's, max_seq_length
256; ``--data`` takes any data folder, e.g. a recsys one with ``--logq``) in six variants,
interleaved: fp32 / bf16 encoder autocast × attention dropout 0.1 / 0, and bf16 without attention
dropout on PyTorch's math attention kernel (``attention_kernel: math``) or the transformers library's eager
attention (``attention_kernel: eager``; ``auto`` uses it up to 192 tokens) instead of the fused flash kernel. Then prints torch.profiler's top operators for one step of ``--profile``.

    python bench/train_profile.py --rounds 2
    python bench/train_profile.py --data bench/out/train-speed4/shop/data --max-seq-length 160 --logq \
        --profile "bf16, attention dropout 0"
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

VARIANTS = {  # name: (bf16 encoder autocast, attention dropout, attention_kernel)
    "fp32, attention dropout 0.1": (False, 0.1, "pytorch"),
    "bf16, attention dropout 0.1": (True, 0.1, "pytorch"),
    "bf16, attention dropout 0": (True, 0.0, "pytorch"),
    "fp32, attention dropout 0": (False, 0.0, "pytorch"),
    "bf16, attention dropout 0, math kernel": (True, 0.0, "math"),
    "bf16, attention dropout 0, eager attention": (True, 0.0, "eager"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scifact", type=Path, default=Path("/work/shared/data/scifact"))
    parser.add_argument("--data", type=Path, default=None, help="a data folder (default: --scifact)")
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--logq", action="store_true", help="the logQ-corrected loss (recommendation data)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", choices=list(VARIANTS), default="bf16, attention dropout 0.1")
    args = parser.parse_args()

    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from torch.profiler import ProfilerActivity, profile

    from embedtune.base_model import load_model
    from embedtune.data.pairs import load_training_pairs
    from embedtune.losses import LogQCorrectedMNRL, log_sampling_probabilities
    from embedtune.training.attention import (
        attention_dropout,
        resolve_attention_kernel,
        training_attention_kernel,
    )
    from embedtune.training.precision import Precision, encoder_autocast

    torch.manual_seed(0)
    pairs = load_training_pairs(args.data or args.scifact)
    random.Random(0).shuffle(pairs)
    pairs = pairs[:96]
    model = load_model("all-MiniLM-L6-v2", max_seq_length=args.max_seq_length)
    loss_fn = LogQCorrectedMNRL(model) if args.logq else MultipleNegativesRankingLoss(model)
    log_q = torch.tensor(log_sampling_probabilities([p.positive for p in pairs])) if args.logq else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model.train()
    batches = [pairs[i:i + 32] for i in range(0, 96, 32)]

    def step(batch, bf16: bool, dropout: float, kernel: str) -> tuple[float, float, float]:
        features = [model.tokenize([p.anchor for p in batch]), model.tokenize([p.positive for p in batch])]
        labels = log_q[: len(batch)] if log_q is not None else None
        precision = Precision("bf16" if bf16 else "fp32", "cpu", "bench")
        start = time.perf_counter()
        with (encoder_autocast(model, precision), attention_dropout(model, dropout),
              training_attention_kernel(model, resolve_attention_kernel(kernel, "cpu"))):
            loss = loss_fn(features, labels)
        forward = time.perf_counter()
        loss.backward()
        backward = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad()
        return forward - start, backward - forward, time.perf_counter() - backward

    for variant in VARIANTS.values():  # warm-up: one-time kernel setup is not timed
        step(batches[0], *variant)
    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, variant in VARIANTS.items():
            times[name] += [step(b, *variant) for b in batches[1:]]
    print(f"torch threads: {torch.get_num_threads()}; seconds per step (mean of {2 * args.rounds}): "
          "total = forward + backward + optimizer")
    reference = sum(map(sum, times["fp32, attention dropout 0.1"])) / len(times["fp32, attention dropout 0.1"])
    for name, values in times.items():
        phases = [sum(v[i] for v in values) / len(values) for i in range(3)]
        total = sum(phases)
        print(f"  {name:40s} {total:6.2f} s = {phases[0]:.2f} + {phases[1]:.2f} + {phases[2]:.2f}   "
              f"{reference / total:4.2f}x")

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(batches[1], *VARIANTS[args.profile])
    print(f"\ntop operators, one step of {args.profile}:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
