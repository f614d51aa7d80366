"""Which arithmetic a fine-tune runs in: fp32, or bf16/fp16 autocast with fp32 master weights.

``precision: auto`` picks bf16 autocast on CPUs that multiply bf16 in hardware (Intel AMX or
AVX512-BF16: a MultipleNegativesRankingLoss step of all-MiniLM-L6-v2 ran 1.5-1.7x faster there with
the same loss to 0.01) and fp32 on other CPUs, where emulated bf16 is slower than fp32. On a GPU it
picks bf16 where supported, else fp16, through the Hugging Face trainer's own flags.

On a CPU, bf16 autocast covers only the transformer encoder: token embeddings come back as fp32, and
pooling, normalisation and the contrastive loss (cosine similarities times a scale of 20, softmax over
the batch) stay in fp32, where bf16's 8-bit mantissa would round logits by up to ~0.1. The weights and
the optimizer state are never cast, so the saved model is the same fp32 safetensors as without
autocast.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# CPU features with hardware bf16 matrix multiplication (names as in /proc/cpuinfo and torch.cpu).
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Precision:
    """The arithmetic chosen for a run, and why (said in the log, train_log.json and the card)."""

    name: str  # "fp32" | "bf16" | "fp16"
    device: str  # "cpu" | "cuda"
    reason: str

    @property
    def autocast_cpu(self) -> bool:
        """bf16 autocast applied by embedtune to the encoder on a CPU (see the module docstring)."""
        return self.device == "cpu" and self.name == "bf16"

    def trainer_flags(self) -> dict[str, bool]:
        """Flags for ``TrainingArguments``: on a GPU the trainer's own mixed precision (with a grad scaler
        for fp16); on a CPU none — the trainer runs fp32 and :func:`encoder_autocast` does the rest."""
        if self.device == "cpu":
            return {}
        return {"bf16": True} if self.name == "bf16" else {"fp16": True} if self.name == "fp16" else {}

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "device": self.device, "reason": self.reason}


def cpu_flags() -> frozenset[str]:
    """CPU feature names: torch's cpuinfo-based capabilities, else the flags line of /proc/cpuinfo."""
    import torch

    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    if get_capabilities is not None:
        try:
            return frozenset(name for name, value in get_capabilities().items() if value is True)
        except (RuntimeError, OSError):  # cpuinfo could not read this CPU
            pass
    return proc_cpuinfo_flags()


def proc_cpuinfo_flags(path: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The ``flags`` of the first processor in a /proc/cpuinfo-format file (empty when unreadable)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def cpu_bf16_feature(flags: Iterable[str]) -> str | None:
    """The hardware bf16 feature among ``flags`` (``amx_bf16`` preferred), or None."""
    present = set(flags)
    return next((flag for flag in BF16_CPU_FLAGS if flag in present), None)


def resolve_precision(
    requested: str,
    *,
    cuda: bool | None = None,
    cuda_bf16: bool | None = None,
    flags: Iterable[str] | None = None,
) -> Precision:
    """Turn ``auto|fp32|bf16|fp16`` into the precision this machine runs; the keyword arguments replace
    detection (tests pass a fake CPU flag set)."""
    from embedtune.errors import EmbedtuneError

    if cuda is None or cuda_bf16 is None:
        import torch

        cuda = torch.cuda.is_available() if cuda is None else cuda
        cuda_bf16 = (cuda and torch.cuda.is_bf16_supported()) if cuda_bf16 is None else cuda_bf16
    if cuda:
        if requested == "auto":
            name = "bf16" if cuda_bf16 else "fp16"
            return Precision(name, "cuda", f"auto: {name} autocast on a GPU")
        if requested == "bf16" and not cuda_bf16:
            raise EmbedtuneError("precision bf16: this GPU does not support bf16; use fp16 or auto")
        return Precision(requested, "cuda", "requested")
    if requested == "fp16":
        raise EmbedtuneError("precision fp16 needs a GPU; on a CPU use bf16 (or auto, which picks it where it is fast)")
    feature = cpu_bf16_feature(cpu_flags() if flags is None else flags)
    if requested == "auto":
        if feature is None:
            return Precision("fp32", "cpu", "auto: this CPU has neither AMX nor AVX512-BF16, where bf16 is slower")
        return Precision("bf16", "cpu", f"auto: bf16 autocast, this CPU has {feature}")
    if requested == "bf16" and feature is None:
        logger.warning("precision bf16 on a CPU without AMX or AVX512-BF16: expect it to be slower than fp32")
    return Precision(requested, "cpu", "requested")


class _AutocastForward:
    """A module's forward run under autocast, with floating-point tensor outputs cast back to fp32."""

    def __init__(self, forward: Callable[..., Any], device_type: str, dtype: Any) -> None:
        self.forward = forward
        self.device_type = device_type
        self.dtype = dtype

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import torch

        with torch.autocast(device_type=self.device_type, dtype=self.dtype):
            output = self.forward(*args, **kwargs)
        if isinstance(output, dict):
            return {
                key: value.float() if isinstance(value, torch.Tensor) and value.is_floating_point() else value
                for key, value in output.items()
            }
        return output


@contextlib.contextmanager
def encoder_autocast(model: Any, precision: Precision) -> Iterator[None]:
    """Run the model's first module (the transformer encoder) under CPU bf16 autocast inside the block.

    Nothing changes for other precisions. The patch is an instance attribute removed on exit: the
    saved model, its config and its class are untouched.
    """
    if not precision.autocast_cpu:
        yield
        return
    import torch

    encoder = model[0]
    encoder.forward = _AutocastForward(encoder.forward, "cpu", torch.bfloat16)
    try:
        yield
    finally:
        del encoder.forward
