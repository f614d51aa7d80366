"""Attention-probability dropout during training: the largest cost of a CPU training step.

A profile of one MultipleNegativesRankingLoss step of all-MiniLM-L6-v2 (batch 32, 256 tokens, one
thread) spent about half its time on attention dropout: drawing a Bernoulli mask for every
``batch × heads × tokens × tokens`` attention probability (150M draws per forward pass), multiplying
by it, and running attention as separate matmul/softmax/mask operations, because PyTorch's fused
attention kernel (``scaled_dot_product_attention``) has no CPU path with dropout. Without attention
dropout the same step ran about twice as fast, in fp32 and in bf16 (docs/benchmarks.md, "Training
speed"). The dropout on hidden states (0.1) stays.

``attention_dropout`` in the config sets the probability for the run only: the module attributes are
restored afterwards, and the saved ``config.json`` keeps the base model's value.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from torch import nn

logger = logging.getLogger(__name__)


def attention_dropout_modules(model: nn.Module) -> list[nn.Dropout]:
    """The dropout applied to attention probabilities: ``dropout`` of each ``*SelfAttention`` module."""
    return [m.dropout for m in model.modules()
            if type(m).__name__.endswith("SelfAttention") and isinstance(getattr(m, "dropout", None), nn.Dropout)]


@contextlib.contextmanager
def attention_dropout(model: Any, probability: float | None) -> Iterator[None]:
    """Inside the block, attention probabilities are dropped with ``probability`` (None: the model's own)."""
    modules = attention_dropout_modules(model) if probability is not None else []
    if probability is not None and not modules:
        logger.warning("attention_dropout %s not applied: no self-attention dropout found in %s",
                       probability, type(model).__name__)
    original = [m.p for m in modules]
    for module in modules:
        module.p = probability
    try:
        yield
    finally:
        for module, p in zip(modules, original, strict=True):
            module.p = p
