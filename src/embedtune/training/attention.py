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
plain batched matmuls; ``pytorch`` = PyTorch's own choice; ``auto`` = on a CPU, ``math`` for batches of
at most 192 tokens and the fused kernel for longer ones (whose math forward grows quadratically), on a
GPU ``pytorch``. Forward passes without a graph (dev evaluation, encoding) keep PyTorch's choice
either way. Measured in docs/benchmarks.md, "Training speed".
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

#: ``auto`` on a CPU: batches padded to at most this many tokens train on the math kernel, longer ones on
#: PyTorch's fused kernel. Measured per step in bf16, batch 32, one thread (bench/train_profile.py,
#: forward + backward, math vs fused): 1.23 vs 1.57 s at 128 tokens (site), 1.71 vs 2.13 s at 146
#: (shop), 3.48 vs 2.85 s at 256 (SciFact) — the lines cross near 190 tokens.
MATH_KERNEL_MAX_TOKENS = 192
ALWAYS = 1 << 30  # a token limit no batch reaches


def resolve_attention_kernel(kernel: AttentionKernel, device: str) -> int:
    """The longest batch (in tokens) whose training forward uses the math kernel: 0 = none, ALWAYS = all.

    ``auto`` → :data:`MATH_KERNEL_MAX_TOKENS` on a CPU, 0 elsewhere (GPUs' fused kernels win).
    """
    if kernel == "auto":
        return MATH_KERNEL_MAX_TOKENS if device == "cpu" else 0
    return ALWAYS if kernel == "math" else 0


def describe_attention_kernel(max_tokens: int) -> str:
    """``math``, ``pytorch``, or ``math up to N tokens, pytorch above`` (the log, train_log.json, the card)."""
    if max_tokens <= 0:
        return "pytorch"
    return "math" if max_tokens >= ALWAYS else f"math up to {max_tokens} tokens, pytorch above"


class _MathAttentionWhenTraining:
    """A module's forward that uses PyTorch's math attention when it records a graph (training) for a
    batch of at most ``max_tokens`` tokens."""

    def __init__(self, forward: Callable[..., Any], max_tokens: int) -> None:
        self.forward = forward
        self.max_tokens = max_tokens

    def __call__(self, features: Any, *args: Any, **kwargs: Any) -> Any:
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel

        tokens = features["input_ids"].shape[-1] if "input_ids" in features else 0
        if not torch.is_grad_enabled() or tokens > self.max_tokens:
            return self.forward(features, *args, **kwargs)
        with sdpa_kernel(SDPBackend.MATH):
            return self.forward(features, *args, **kwargs)


@contextlib.contextmanager
def training_attention_kernel(model: Any, max_tokens: int) -> Iterator[None]:
    """Inside the block, the encoder's (``model[0]``) training forward passes of batches of at most
    ``max_tokens`` tokens use the math kernel (see :func:`resolve_attention_kernel`).

    The patch is an instance attribute (stacked over any patch already there, e.g. the bf16 autocast's)
    and is undone on exit: the saved model and its class are untouched.
    """
    if max_tokens <= 0:
        yield
        return
    encoder = model[0]
    previous = encoder.__dict__.get("forward")
    encoder.forward = _MathAttentionWhenTraining(encoder.forward, max_tokens)
    try:
        yield
    finally:
        if previous is None:
            del encoder.forward
        else:
            encoder.forward = previous
