"""Fine-tune a bi-encoder on sentence-transformers' ``SentenceTransformerTrainer``.

One call, :func:`train`, runs three stages, one module each, with a typed record between them:

1. :mod:`~embedtune.training.prepare` — read pairs and held-out splits, data doctor, hard-negative mining,
   loss and chance level, dev evaluator → :class:`~embedtune.training.prepare.Prepared`;
2. :mod:`~embedtune.training.fit` — train with per-epoch dev evaluation and checkpoints, keep the best (or
   last) epoch, judge the loss curve → :class:`~embedtune.training.fit.Fitted`;
3. :mod:`~embedtune.training.finalize` — merge (optional), save, final evaluation against the baselines,
   logs, model card, report → :class:`~embedtune.training.finalize.TrainResult`.

Batches come from :mod:`~embedtune.training.sampler` (no duplicate texts, grouped by length) and the
arithmetic from :mod:`~embedtune.training.precision` (bf16 autocast on CPUs with AMX/AVX512-BF16). The
run works in ``OUTPUT.partial`` (checkpoints, then the finished model) and renames it to ``OUTPUT`` when
done, so the output appears complete or not at all; an interrupted run is continued with ``resume``
(:mod:`~embedtune.training.workspace`).

Loss: MultipleNegativesRankingLoss (Henderson et al. 2017; scale 20, cosine similarity) — each anchor's
positive must outrank every other positive (and negative) in the batch — or its cached variant
(Gao et al. 2021, GradCache) when ``mini_batch_size`` is set, or its logQ-corrected variant on
recommendation data (:mod:`embedtune.losses`).

Example::

    from embedtune.config import TrainConfig
from embedtune.data.recommended import apply_recommended_training
from embedtune.errors import EmbedtuneError
from embedtune.training.distributed import current_processes
    from embedtune.training import train

    result = train(TrainConfig(data=["../shared/data/scifact"], output="runs/scifact", epochs=3, lr=3e-5))
    print(result.eval.verdict)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from embedtune.config import TrainConfig
from embedtune.data.recommended import apply_recommended_training
from embedtune.errors import EmbedtuneError
from embedtune.fileio import check_output_dir
from embedtune.training.distributed import current_processes
from embedtune.training.finalize import TrainResult, finalize
from embedtune.training.fit import Fitted, fit
from embedtune.training.prepare import Prepared, prepare
from embedtune.training.workspace import open_workspace


def train(config: TrainConfig, show_progress: bool = True, echo=print) -> TrainResult:
    """Run a full fine-tune described by ``config``: prepare → fit → finalize (see the module docstring).

    The run works in ``OUTPUT.partial`` and renames it to ``OUTPUT`` when done; ``config.resume``
    continues an interrupted run from its last checkpoint (:mod:`embedtune.training.workspace`). Under
    torchrun every process runs this function and rank 0 alone writes (:mod:`embedtune.training.distributed`).
    """
    config.require_io()
    check_output_dir(config.output, overwrite=config.overwrite, producer="train")  # before any work
    config = apply_recommended_training(config, echo)  # e.g. a site DATA_DIR's measured recipe
    started = time.perf_counter()
    processes = current_processes()
    if config.batch_size % processes.world_size:
        raise EmbedtuneError(f"batch_size {config.batch_size} does not split evenly over {processes.world_size} "
                             "processes: the global batch is shared equally")
    say = echo if processes.is_main else _silent
    workspace = open_workspace(config, processes=processes, echo=say)
    try:
        with processes.main_first():  # rank 0 fills the hard-negative mining cache, the others read it
            prepared = prepare(config, say, world_size=processes.world_size)
        fitted = fit(prepared, config, workspace, show_progress=show_progress and processes.is_main, echo=say)
        if not processes.is_main:
            return TrainResult(Path(config.output), prepared.n_pairs, fitted.epoch_losses, fitted.dev_history,
                               fitted.learned_nothing, 0.0, fitted.pairs_per_second)
        result = finalize(prepared, fitted, config, workspace.path, output=workspace.output, started=started,
                          echo=echo)
        workspace.publish(keep_checkpoints=config.keep_checkpoints)
    except BaseException:
        workspace.abandon(echo)
        raise
    return result


def _silent(*_: Any) -> None:
    """The echo of processes other than rank 0."""


def load_train_log(run_dir: str | Path) -> dict[str, Any]:
    """The ``train_log.json`` of a model folder, or ``{}`` when it has none."""
    path = Path(run_dir) / "train_log.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


__all__ = ["Fitted", "Prepared", "TrainResult", "finalize", "fit", "load_train_log", "prepare", "train"]
