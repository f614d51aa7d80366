"""sentence-transformers' trainer with what embedtune measures: pairs/s, padding share, progress in pairs.

:class:`EmbedtuneTrainer` is ``SentenceTransformerTrainer`` with a data collator that counts the
pairs and the real and padded tokens it hands to the model (the padding share of a run, exact, from
the attention masks), and :class:`PairsProgress` is the progress bar: pairs done, pairs/s and ETA.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sentence_transformers import SentenceTransformerTrainer
from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator
from transformers import TrainerCallback


@dataclass
class CountingDataCollator(SentenceTransformerDataCollator):
    """The stock collator (tokenise each column, pad to the batch's longest), counting what it produced."""

    rows: int = field(default=0, init=False)
    real_tokens: int = field(default=0, init=False)
    padded_tokens: int = field(default=0, init=False)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = super().__call__(features)
        self.rows += len(features)
        for key, value in batch.items():
            if key.endswith("attention_mask"):
                self.real_tokens += int(value.sum())
                self.padded_tokens += value.numel()
        return batch

    @property
    def padding_share(self) -> float | None:
        """Share of the token positions the model computed that were padding."""
        return 1 - self.real_tokens / self.padded_tokens if self.padded_tokens else None


class EmbedtuneTrainer(SentenceTransformerTrainer):
    """``SentenceTransformerTrainer`` with a :class:`CountingDataCollator`, which also tells its batch
    samplers the epoch at the start of each one (see :class:`SamplerEpoch`)."""

    data_collator_class = CountingDataCollator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.epoch_samplers: list[Any] = []
        super().__init__(*args, **kwargs)
        self.add_callback(SamplerEpoch(self.epoch_samplers))

    def get_batch_sampler(self, *args: Any, **kwargs: Any) -> Any:
        sampler = super().get_batch_sampler(*args, **kwargs)
        self.epoch_samplers.append(sampler)
        return sampler

    def get_multi_dataset_batch_sampler(self, *args: Any, **kwargs: Any) -> Any:
        sampler = super().get_multi_dataset_batch_sampler(*args, **kwargs)
        self.epoch_samplers.append(sampler)
        return sampler


class SamplerEpoch(TrainerCallback):
    """Set the epoch on the batch samplers at every epoch's start.

    The trainer does this itself, except when a resumed run skips batches under torchrun: its
    skipping wrapper then sits over accelerate's sharding wrapper and the epoch never reaches the
    sampler, whose batches are fixed by ``seed + epoch``.
    """

    def __init__(self, samplers: list[Any]) -> None:
        self.samplers = samplers

    def on_epoch_begin(self, args, state, control, **kwargs):
        epoch = int((state.epoch or 0.0) + 1e-6)
        for sampler in self.samplers:
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)


class PairsProgress(TrainerCallback):
    """Progress bar in training pairs: done/total, pairs/s and ETA, and the last logged loss.

    Counts ``pairs_per_step`` (the global batch) per optimizer step; an epoch's last, shorter batch
    is counted whole, so the bar may run a few pairs past the exact count (train_log.json has the exact
    one). Under torchrun only rank 0 draws it.
    """

    def __init__(self, pairs_per_step: int) -> None:
        self.pairs_per_step = pairs_per_step
        self.bar: Any = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            from tqdm.auto import tqdm

            total = state.max_steps * self.pairs_per_step
            self.bar = tqdm(total=total, initial=min(total, state.global_step * self.pairs_per_step),
                            unit=" pairs", desc="training", dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(self.pairs_per_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}", epoch=f"{state.epoch or 0:.2f}")

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
