"""Stage 3, finalize: a :class:`~embedtune.training.fit.Fitted` model becomes a model folder that says what it is.

:func:`finalize` interpolates the weights with the base model (``merge_base``, WiSE-FT), saves the
model (fp32 safetensors, loadable by stock ``SentenceTransformer``) — on recommendation data with the
co-occurrence statistics ``embedtune recommend`` needs (``recsys/``) — evaluates it on the held-out
split against the baselines, and writes ``eval.json``, ``train_log.json``, ``doctor.json``,
``config.yaml``, the model card section and ``report.html`` — all into the folder it is given, which
the caller then publishes as the output folder in one step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedtune.base_model import load_model
from embedtune.card import add_embedtune_section
from embedtune.config import TrainConfig
from embedtune.data.beir import read_manifest
from embedtune.doctor import DoctorReport
from embedtune.eval import EvalResult, evaluate, write_eval
from embedtune.fileio import write_json_atomic, write_text_atomic
from embedtune.merge import interpolate_with_base
from embedtune.report import write_report
from embedtune.training.fit import Fitted
from embedtune.training.prepare import Prepared


@dataclass
class TrainResult:
    """What ``embedtune.training`` returns: where the model is and what the run found."""

    output: Path
    n_pairs: int
    epoch_losses: list[float]
    dev_history: list[dict[str, float]]
    learned_nothing: bool
    seconds: float
    pairs_per_second: float
    eval: EvalResult | None = None  # the final held-out evaluation
    doctor: DoctorReport | None = None
    warnings: list[str] = field(default_factory=list)


def finalize(prepared: Prepared, fitted: Fitted, config: TrainConfig, folder: Path, *, output: Path,
             started: float, echo=print) -> TrainResult:
    """Merge, save, evaluate and document the model in ``folder``; see the module docstring.

    ``output`` is where ``folder`` will be published (named in the card and the result); ``started``
    is the run's start on ``time.perf_counter``'s clock.
    """
    model = fitted.model
    report = prepared.doctor
    warnings: list[str] = []
    if fitted.loss_finding is not None:
        report.findings.append(fitted.loss_finding)
        warnings.append(fitted.loss_finding.message)
        echo(f"doctor [{fitted.loss_finding.severity}] {fitted.loss_finding.message}")
    if config.merge_base is not None:
        interpolate_with_base(model, load_model(config.base_model), config.merge_base)
        echo(f"weights interpolated with the base model: {1 - config.merge_base:g} x base + "
             f"{config.merge_base:g} x tuned (WiSE-FT)")
    model.save(str(folder))
    save_recsys_stats(prepared, folder)

    eval_result = final_evaluation(prepared, fitted, config, folder, output, echo)
    seconds = time.perf_counter() - started
    log = train_log(prepared, fitted, config, seconds)
    write_json_atomic(folder / "train_log.json", log)
    write_json_atomic(folder / "doctor.json", report.to_dict())
    # The recipe of the model, not of this invocation: rerunning config.yaml trains anew.
    recipe = config.model_copy(update={"resume": False})
    write_text_atomic(folder / "config.yaml", recipe.to_yaml())
    add_embedtune_section(folder / "README.md", recipe, eval_result, report, log)
    write_report(folder)
    return TrainResult(
        output=output,
        n_pairs=prepared.n_pairs,
        epoch_losses=fitted.epoch_losses,
        dev_history=fitted.dev_history,
        learned_nothing=fitted.learned_nothing,
        seconds=seconds,
        pairs_per_second=round(fitted.pairs_per_second, 3),
        eval=eval_result,
        doctor=report,
        warnings=warnings,
    )


def save_recsys_stats(prepared: Prepared, folder: Path) -> Path | None:
    """On recommendation data: the co-occurrence statistics and popularity `embedtune recommend` needs
    besides the model, as ``folder/recsys/`` (from training events only, like the baselines)."""
    eval_dir = prepared.inputs.eval_dir
    if eval_dir is None or read_manifest(eval_dir).get("kind") != "recsys":
        return None
    from embedtune.recsys.stats import save_item_stats

    return save_item_stats(eval_dir, folder)


def final_evaluation(prepared: Prepared, fitted: Fitted, config: TrainConfig, folder: Path, output: Path,
                     echo=print) -> EvalResult | None:
    """Score the saved model in ``folder`` on the final split (else dev) with baselines; write eval.json there."""
    inputs = prepared.inputs
    split = next((s for s in inputs.held_out if s.name == config.final_split), None) or inputs.dev
    if split is None or inputs.eval_dir is None:
        return None
    echo(f"final evaluation on split {split.name!r} ({len(split.query_ids)} queries) with baselines ...")
    result = evaluate(
        folder, inputs.eval_dir, split.name, base_model=config.base_model, baselines=config.baselines,
        batch_size=config.eval_batch_size, loaded_model=fitted.model, loaded_split=split,
        model_description=f"fine-tuned {output.name} (from {config.base_model})",
    )
    if fitted.loss_finding is not None:
        result.warnings.insert(0, fitted.loss_finding.message)
    result.model_learned_nothing = fitted.learned_nothing  # the verdict says so when a hybrid would hide it
    write_eval(result, folder)
    return result


def train_log(prepared: Prepared, fitted: Fitted, config: TrainConfig, seconds: float) -> dict[str, Any]:
    """The ``train_log.json`` record (the report and the card read it)."""
    return {
        "log_history": fitted.log_history,
        "epoch_losses": fitted.epoch_losses,
        "chance_loss": prepared.chance,
        "logq_correction": prepared.use_logq,
        "learned_nothing": fitted.learned_nothing,
        "dev_history": fitted.dev_history,
        "n_pairs": prepared.n_pairs,
        "train_seconds": round(fitted.train_seconds, 2),
        "total_seconds": round(seconds, 2),
        "pairs_per_second": round(fitted.pairs_per_second, 3) if fitted.train_seconds else None,
        "pairs_trained": fitted.pairs_trained,
        "precision": fitted.precision.to_dict(),
        "group_by_length": (any(c["grouped"] for c in fitted.length_grouping) if fitted.length_grouping
                            else config.group_by_length),
        "length_grouping": fitted.length_grouping,
        "attention_kernel": fitted.attention_kernel,
        "padding_share": round(fitted.padding_share, 4) if fitted.padding_share is not None else None,
        "best_checkpoint": fitted.best_checkpoint,
        "merge_base": config.merge_base,
    }
