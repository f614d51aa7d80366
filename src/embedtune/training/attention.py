"""Attention during training: its dropout and its kernel, the largest costs of a CPU training step.

A profile of one MultipleNegativesRankingLoss step of all-MiniLM-L6-v2 (batch 32, 256 tokens, one
thread) spent about half its time on attention dropout: drawing a Bernoulli mask for every
``batch × heads × tokens × tokens`` attention probability (150M draws per forward pass), multiplying
by it, and running attention as separate matmul/softmax/mask operations, because PyTorch's fused
attention kernel (``scaled_dot_product_attention``) has no CPU path with dropout. Without attention
dropout the same step ran about twice as fast, in fp32 and in bf16 (docs/benchmarks.md, "Training
speed"). The dropout on hidden states (0.1) stays.

``attention_dropout`` in the config sets the probability for the run only: the module attributes are
restored afterwards, and the saved ``config.json`` keeps the base model's value.

Without dropout, PyTorch picks its fused flash-attention kernel — fast forward, but on a CPU its
backward is slow: in a profile of a bf16 step on the demo shop's prompts (batch 32, 146 tokens, one
thread) the flash backward alone was 46% of the step. ``attention_kernel`` (config) chooses the kernel
of the training steps' forward passes, and with it their backward: ``math`` = PyTorch's unfused
matmul + softmax attention (``torch.nn.attention.sdpa_kernel(SDPBackend.MATH)``), whose backward is
plain batched matmuls; ``pytorch`` = PyTorch's own choice; ``auto`` = ``math`` on a CPU, ``pytorch`` on
a GPU (where the fused kernels win). Forward passes without a graph (dev evaluation, encoding) keep
PyTorch's choice either way. Measured in docs/benchmarks.md, "Training speed".
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any, Literal

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


AttentionKernel = Literal["auto", "math", "pytorch"]


def resolve_attention_kernel(kernel: AttentionKernel, device: str) -> Literal["math", "pytorch"]:
    """``auto`` → ``math`` on a CPU, ``pytorch`` elsewhere; the other values as given."""
    if kernel == "auto":
        return "math" if device == "cpu" else "pytorch"
    return kernel


class _MathAttentionWhenTraining:
    """A module's forward that uses PyTorch's math attention when it records a graph (training)."""

    def __init__(self, forward: Callable[..., Any]) -> None:
        self.forward = forward

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel

        if not torch.is_grad_enabled():
            return self.forward(*args, **kwargs)
        with sdpa_kernel(SDPBackend.MATH):
            return self.forward(*args, **kwargs)


@contextlib.contextmanager
def training_attention_kernel(model: Any, kernel: Literal["math", "pytorch"]) -> Iterator[None]:
    """Inside the block, the encoder's (``model[0]``) training forward passes use ``kernel``.

    The patch is an instance attribute (stacked over any patch already there, e.g. the bf16 autocast's)
    and is undone on exit: the saved model and its class are untouched.
    """
    if kernel == "pytorch":
        yield
        return
    encoder = model[0]
    previous = encoder.__dict__.get("forward")
    encoder.forward = _MathAttentionWhenTraining(encoder.forward)
    try:
        yield
    finally:
        if previous is None:
            del encoder.forward
        else:
            encoder.forward = previous
