"""Stage 2, fit: train a :class:`~embedtune.training.prepare.Prepared` run on sentence-transformers' trainer.

:func:`fit` scores the dev split before training (epoch 0), trains with per-epoch dev evaluation and
checkpoints (the best or last epoch is kept), in the precision :mod:`embedtune.training.precision`
picks, with the batches of :mod:`embedtune.training.sampler` and the attention dropout of
:mod:`embedtune.training.attention`, and judges the loss curve against the
chance level. Checkpoints (every epoch and every ``checkpoint_steps`` steps) are committed atomically in
the run's :class:`~embedtune.training.workspace.Workspace`; ``--resume`` continues from the last one with
the trainer's ``resume_from_checkpoint`` (weights, optimizer, scheduler, RNG states, logged history),
and the batches of every epoch are fixed by the seed, so the resumed run trains on the same batches as
an uninterrupted one. Its record, :class:`Fitted`, holds the kept model and everything measured.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets as hf_datasets
import torch
import transformers
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainingArguments
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from embedtune.chance import learned_nothing, learned_nothing_threshold
from embedtune.config import TrainConfig
from embedtune.doctor import Finding, check_training_loss
from embedtune.training.attention import (
    attention_dropout,
    resolve_attention_kernel,
    training_attention_kernel,
)
from embedtune.training.precision import Precision, encoder_autocast, resolve_precision
from embedtune.training.prepare import Prepared
from embedtune.training.sampler import BatchSamplerFactory, MultiDatasetSamplerFactory
from embedtune.training.trainer import EmbedtuneTrainer, PairsProgress
from embedtune.training.workspace import Workspace

logger = logging.getLogger(__name__)


@dataclass
class Fitted:
    """The output of :func:`fit`: the kept weights and what the run measured."""

    model: SentenceTransformer  # the best (or last) epoch's weights, fp32
    log_history: list[dict[str, Any]]  # the trainer's log: loss per logged step, dev metrics per epoch
    epoch_losses: list[float]
    dev_history: list[dict[str, float]]  # epoch 0 = before training
    loss_finding: Finding | None  # the data doctor's verdict on the loss curve (None = it learned)
    precision: Precision
    train_seconds: float
    pairs_trained: int
    padding_share: float | None
    length_grouping: list[dict[str, Any]]  # per dataset: grouped or not, and the padding each way (GroupingChoice)
    attention_kernel: str  # the kernel the training steps used (TrainingAttention.describe)
    best_checkpoint: str | None  # folder name of the kept checkpoint, when selected on dev

    @property
    def learned_nothing(self) -> bool:
        return self.loss_finding is not None

    @property
    def pairs_per_second(self) -> float:
        return self.pairs_trained / self.train_seconds if self.train_seconds else 0.0


class EpochWatch(TrainerCallback):
    """Warn as soon as an epoch ends with the loss still near chance (the model is learning nothing)."""

    def __init__(self, chance: float) -> None:
        self.chance = chance

    def on_epoch_end(self, args, state, control, **kwargs):
        losses = epoch_losses(state.log_history)
        if losses and learned_nothing(losses[-1], self.chance):
            logger.warning(
                "epoch %d: mean loss %.3f is still >= %.3f, near the chance level %.3f: the model is learning "
                "nothing so far", len(losses), losses[-1], learned_nothing_threshold(self.chance), self.chance,
            )


def fit(prepared: Prepared, config: TrainConfig, workspace: Workspace, *, show_progress: bool = True,
        echo=print) -> Fitted:
    """Train; see the module docstring. Checkpoints go to the workspace; a resumed run starts from its
    last complete checkpoint (and reuses the dev score before training stored there)."""
    precision = resolve_precision(config.precision)
    model = prepared.model
    # The score before training is rank 0's to report; under torchrun the other processes skip it. It is
    # computed in the run's precision, like the per-epoch scores it is compared with.
    dev_history = []
    if prepared.evaluator is not None and workspace.is_main:
        with encoder_autocast(model, precision):
            dev_history.append(dev_before(prepared, workspace, echo))
    if not show_progress:
        quiet_progress_bars()

    batch_samplers = BatchSamplerFactory(
        prepared.model.tokenizer, config.max_seq_length, group_by_length=config.group_by_length,
        no_duplicates=config.no_duplicates, world_size=prepared.world_size, min_saving=config.group_min_saving,
        echo=echo if workspace.is_main else None,
    )
    trainer = EmbedtuneTrainer(
        model=model,
        args=training_arguments(config, prepared, workspace.checkpoints.resolve(), precision, batch_samplers),
        train_dataset=(prepared.train_datasets if len(prepared.train_datasets) > 1
                       else next(iter(prepared.train_datasets.values()))),
        loss=prepared.loss,
        evaluator=prepared.evaluator,
        callbacks=[EpochWatch(prepared.chance),
                   CheckpointCommit(workspace, config.checkpoint_steps, keep_epochs=config.keep_checkpoints)],
    )
    trainer.remove_callback(PrinterCallback)
    if show_progress:
        trainer.add_callback(PairsProgress(config.batch_size))
    kernel = resolve_attention_kernel(config.attention_kernel, precision.device)
    echo(f"precision: {precision.name} ({precision.reason}); attention kernel while training: "
         f"{kernel.describe()}")
    resume = str(workspace.resume_from.path) if workspace.resume_from is not None else None
    started = time.perf_counter()
    with (encoder_autocast(model, precision), attention_dropout(model, config.attention_dropout),
          training_attention_kernel(model, kernel)):
        trainer.train(resume_from_checkpoint=resume)
    train_seconds = time.perf_counter() - started

    history = trainer.state.log_history
    losses = epoch_losses(history)
    dev_history += dev_metrics(history, prepared.evaluator.name if prepared.evaluator else None)
    finding = check_training_loss(losses, config.batch_size * (1 + prepared.n_negatives),
                                  chance=prepared.chance if prepared.use_logq else None,
                                  dev_scores=dev_ndcg_scores(dev_history))
    best = trainer.state.best_model_checkpoint
    collator = trainer.data_collator
    return Fitted(
        model=trainer.model,
        log_history=history,
        epoch_losses=losses,
        dev_history=dev_history,
        loss_finding=finding,
        precision=precision,
        train_seconds=train_seconds,
        pairs_trained=collator.rows * prepared.world_size,  # every process trains on an equal share
        padding_share=collator.padding_share,
        length_grouping=[choice.to_dict() for choice in batch_samplers.choices],
        attention_kernel=kernel.describe(),
        best_checkpoint=Path(best).name if best else None,
    )


class CheckpointCommit(TrainerCallback):
    """Checkpoint every ``every`` steps (besides every epoch's end) and commit each checkpoint atomically.

    A step checkpoint also forces a log entry, so that the loss logged so far is in the checkpoint's
    trainer state: a run resumed from it logs exactly what an uninterrupted run logs.
    """

    def __init__(self, workspace: Workspace, every: int | None, keep_epochs: bool = True) -> None:
        self.workspace = workspace
        self.every = every
        self.keep_epochs = keep_epochs

    def on_step_end(self, args, state, control, **kwargs):
        if self.every and state.global_step % self.every == 0:
            control.should_save = True
            control.should_log = True
        return control

    def on_save(self, args, state, control, **kwargs):
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()  # every process has written its part (its RNG state)
        keep = {Path(state.best_model_checkpoint).resolve()} if state.best_model_checkpoint else set()
        self.workspace.commit_checkpoint(Path(args.output_dir) / f"checkpoint-{state.global_step}",
                                         state.global_step, float(state.epoch or 0.0), keep,
                                         keep_epochs=self.keep_epochs)


def dev_before(prepared: Prepared, workspace: Workspace, echo=print) -> dict[str, float]:
    """The dev metrics of the untrained model (epoch 0), computed once per run and kept in the workspace."""
    stored = workspace.run.get("dev_before")
    if stored is not None:
        return stored
    name = prepared.evaluator.name
    metrics = prepared.evaluator(prepared.model)
    echo(f"split {name!r} before training: ndcg@10 {metrics[f'{name}_cosine_ndcg@10']:.4f}")
    before = {"epoch": 0.0, **{k.removeprefix(f"{name}_"): v for k, v in metrics.items()}}
    workspace.remember("dev_before", before)
    return before


def training_arguments(config: TrainConfig, prepared: Prepared, checkpoints: Path, precision: Precision,
                       batch_samplers: BatchSamplerFactory) -> SentenceTransformerTrainingArguments:
    """The trainer's arguments for ``config`` (dev selection only when there is a dev split)."""
    has_dev = prepared.evaluator is not None
    keep_best = has_dev and config.keep == "best"
    return SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size // prepared.world_size,
        per_device_eval_batch_size=config.eval_batch_size,
        learning_rate=config.lr,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        batch_sampler=batch_samplers,
        multi_dataset_batch_sampler=MultiDatasetSamplerFactory(config.multi_dataset_sampler, prepared.world_size),
        eval_strategy="epoch" if has_dev else "no",
        save_strategy="epoch",
        save_total_limit=None,  # CheckpointCommit removes old checkpoints once a newer one is complete
        load_best_model_at_end=keep_best,
        metric_for_best_model=f"eval_{prepared.evaluator.name}_cosine_ndcg@10" if keep_best else None,
        greater_is_better=True,
        logging_steps=logging_steps(config, prepared),
        logging_first_step=True,
        report_to="none",
        # The progress bar is PairsProgress (pairs/s, ETA), not the trainer's bar in steps.
        disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=not torch.cuda.is_available(),  # also what lets accelerate run several CPU processes (gloo)
        **precision.trainer_flags(),
    )


def logging_steps(config: TrainConfig, prepared: Prepared) -> int:
    """``config.logging_steps``, but at least two logs per epoch so that every epoch has a mean loss."""
    sizes = [len(pairs) for pairs in prepared.inputs.datasets.values()]
    pairs_per_epoch = sizes[0] if len(sizes) == 1 else min(sizes) * len(sizes)
    steps_per_epoch = max(1, pairs_per_epoch // config.batch_size)
    return max(1, min(config.logging_steps, steps_per_epoch // 2))


def epoch_losses(log_history: list[dict[str, Any]]) -> list[float]:
    """Mean logged training loss per epoch (logs are every ``logging_steps`` steps)."""
    per_epoch: dict[int, list[float]] = {}
    for entry in log_history:
        if "loss" in entry and "epoch" in entry:
            epoch_index = max(0, math.ceil(entry["epoch"] - 1e-9) - 1)
            per_epoch.setdefault(epoch_index, []).append(float(entry["loss"]))
    return [sum(v) / len(v) for _, v in sorted(per_epoch.items())]


def dev_metrics(log_history: list[dict[str, Any]], split: str | None) -> list[dict[str, float]]:
    """The dev evaluator's metrics per evaluation in the trainer's log (prefix removed), with the epoch."""
    if split is None:
        return []
    prefix = f"eval_{split}_"
    return [
        {"epoch": float(entry.get("epoch", 0.0)),
         **{k.removeprefix(prefix): v for k, v in entry.items() if k.startswith(prefix)}}
        for entry in log_history if any(k.startswith(prefix) for k in entry)
    ]


def dev_ndcg_scores(dev_history: list[dict[str, float]]) -> list[float]:
    """NDCG@10 from each dev evaluation (before training first), for the "learned nothing" rule; empty
    when the runs have no such metric or the score before training is missing."""
    scores = [next((v for k, v in entry.items() if k.endswith("ndcg@10")), None) for entry in dev_history]
    if not scores or any(s is None for s in scores) or dev_history[0].get("epoch", 0.0) != 0.0:
        return []
    return [float(s) for s in scores]


def quiet_progress_bars() -> None:
    """No progress bars from transformers and datasets (``--quiet``)."""
    transformers.utils.logging.disable_progress_bar()
    hf_datasets.disable_progress_bars()
