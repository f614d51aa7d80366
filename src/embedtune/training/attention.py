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
of the training steps' forward passes, and with it their backward:

- ``eager`` = the transformers library's own eager attention (``matmul``, add the mask, ``softmax``,
  ``matmul``; the model's ``attn_implementation`` switched to ``"eager"`` for the step only), whose
  backward is plain batched matmuls;
- ``math`` = PyTorch's unfused ``scaled_dot_product_attention`` (``sdpa_kernel(SDPBackend.MATH)``): the
  same matmuls, plus checks for fully masked rows (``isneginf``/``all``/``where``, ~8% of a shop step)
  that eager attention does not need, because its additive mask is finite;
- ``pytorch`` = PyTorch's own choice (the fused kernel);
- ``auto`` = on a CPU, ``eager`` for batches of fewer than 192 tokens (:data:`EAGER_MAX_TOKENS`) and the
  fused kernel for longer ones (whose unfused forward grows quadratically), on a GPU ``pytorch``.

Forward passes without a graph (dev evaluation, encoding) keep PyTorch's choice either way. Measured
in docs/benchmarks.md, "Training speed".
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


AttentionKernel = Literal["auto", "eager", "math", "pytorch"]

#: ``auto`` on a CPU: batches padded to at most this many tokens train on eager attention, longer ones on
#: PyTorch's fused kernel. Measured per step in bf16, batch 32, one thread (forward + backward, eager vs fused,
#: seconds): 1.15 vs 1.61 at 128 tokens (site), 1.60 vs 2.35 at 146 (shop), 1.75 vs 2.45 at 160, 2.17 vs 2.85
#: at 176, but 2.53 vs 2.24 at 192 and 4.23 vs 3.03 at 256 (SciFact): the fused kernel's CPU backward is much
#: faster from 192 query tokens on (its 176-token step was slower than its 192-token one).
EAGER_MAX_TOKENS = 191
ALWAYS = 1 << 30  # a token limit no batch reaches


@dataclass(frozen=True)
class TrainingAttention:
    """The attention of the training steps: ``kernel`` for batches of at most ``max_tokens`` tokens, PyTorch's
    choice for longer ones and for every forward pass without a graph."""

    kernel: Literal["eager", "math", "pytorch"]
    max_tokens: int = ALWAYS

    @property
    def replaces_pytorch(self) -> bool:
        """Whether any training batch leaves PyTorch's own choice."""
        return self.kernel != "pytorch" and self.max_tokens > 0

    def describe(self) -> str:
        """``eager``, ``pytorch``, or ``eager up to N tokens, pytorch above`` (the log, train_log.json, the card)."""
        if not self.replaces_pytorch:
            return "pytorch"
        return self.kernel if self.max_tokens >= ALWAYS else f"{self.kernel} up to {self.max_tokens} tokens, pytorch above"


def resolve_attention_kernel(kernel: AttentionKernel, device: str) -> TrainingAttention:
    """The training attention a config's ``attention_kernel`` means on ``device`` (``cpu`` or ``cuda``).

    ``auto`` → eager up to :data:`EAGER_MAX_TOKENS` tokens on a CPU, PyTorch's choice elsewhere (GPUs' fused
    kernels win); ``eager`` / ``math`` → that kernel for every training batch; ``pytorch`` → PyTorch's choice.
    """
    if kernel == "auto":
        return TrainingAttention("eager", EAGER_MAX_TOKENS) if device == "cpu" else TrainingAttention("pytorch", 0)
    return TrainingAttention(kernel, 0 if kernel == "pytorch" else ALWAYS)


class _KernelWhenTraining:
    """A module's forward that uses ``attention.kernel`` when it records a graph (training) for a batch of at
    most ``attention.max_tokens`` tokens."""

    def __init__(self, forward: Callable[..., Any], attention: TrainingAttention, config: Any) -> None:
        self.forward = forward
        self.attention = attention
        self.config = config  # the transformer's config: its attn_implementation picks eager attention

    def __call__(self, features: Any, *args: Any, **kwargs: Any) -> Any:
        import torch
        from torch.nn.attention import SDPBackend, sdpa_kernel

        tokens = features["input_ids"].shape[-1] if "input_ids" in features else 0
        if not torch.is_grad_enabled() or tokens > self.attention.max_tokens:
            return self.forward(features, *args, **kwargs)
        if self.attention.kernel == "math":
            with sdpa_kernel(SDPBackend.MATH):
                return self.forward(features, *args, **kwargs)
        previous = self.config._attn_implementation
        self.config._attn_implementation = "eager"
        try:
            return self.forward(features, *args, **kwargs)
        finally:
            self.config._attn_implementation = previous


@contextlib.contextmanager
def training_attention_kernel(model: Any, attention: TrainingAttention) -> Iterator[None]:
    """Inside the block, the encoder's (``model[0]``) training forward passes of batches of at most
    ``attention.max_tokens`` tokens use ``attention.kernel`` (see :func:`resolve_attention_kernel`).

    The patch is an instance attribute (stacked over any patch already there, e.g. the bf16 autocast's)
    and is undone on exit: the saved model, its config and its class are untouched.
    """
    if not attention.replaces_pytorch:
        yield
        return
    encoder = model[0]
    auto_model = getattr(encoder, "auto_model", None)
    if attention.kernel == "eager" and auto_model is None:
        logger.warning("attention_kernel eager not applied: %s has no transformers model", type(encoder).__name__)
        yield
        return
    config = auto_model.config if auto_model is not None else None
    previous = encoder.__dict__.get("forward")
    encoder.forward = _KernelWhenTraining(encoder.forward, attention, config)
    try:
        yield
    finally:
        if previous is None:
            del encoder.forward
        else:
            encoder.forward = previous
