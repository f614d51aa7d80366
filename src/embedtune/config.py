"""Run configuration: one validated model per command, every default written down once, here.

A YAML file (``embedtune train recipe.yaml``) fills a :class:`TrainConfig`; CLI flags override it.
Defaults follow the two public seed runs where sensible (learning rate 5e-5, linear schedule, seed 42,
round-robin multi-dataset sampling, batch 32) and sentence-transformers' recommendations elsewhere
(no-duplicates batches for in-batch-negative losses, warmup 10%).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from embedtune.base_model import DEFAULT_BASE_MODEL
from embedtune.errors import DataError, EmbedtuneError
from embedtune.fileio import decode_line


class TrainConfig(BaseModel):
    """Everything a fine-tune needs. Each field is documented; the CLI flag names match."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    data: list[Path] = Field(
        default_factory=list,
        description="Pairs file(s) or BEIR-layout folder(s). Several are trained on together, sampled round-robin.",
    )
    output: Path | None = Field(None, description="Output folder: the saved model, its card, eval.json, logs.")
    base_model: str = Field(DEFAULT_BASE_MODEL, description=f"Bundled '{DEFAULT_BASE_MODEL}' or a local model folder.")
    epochs: int = Field(1, ge=1, le=1000, description="Passes over the training pairs.")
    batch_size: int = Field(32, ge=2, le=65536, description="Pairs per batch: each anchor's in-batch negatives = batch_size-1.")
    mini_batch_size: int | None = Field(
        None, ge=1, description="If set, CachedMultipleNegativesRankingLoss with this mini-batch (large batches, small memory)."
    )
    lr: float = Field(5e-5, gt=0, lt=1, description="Peak learning rate (AdamW).")
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field(
        "linear", description="Learning-rate schedule after warmup (transformers' scheduler names)."
    )
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of steps with linear warmup.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    seed: int = Field(
        42, description="Random seed: the trainer's, batch order, the max_pairs and dev samples, hard-negative choice."
    )
    max_seq_length: int = Field(256, ge=8, le=512, description="Tokens per text; longer texts are truncated.")
    scale: float = Field(20.0, gt=0, description="MNRL similarity scale (inverse temperature).")
    no_duplicates: bool = Field(True, description="Never put the same text twice in a batch (it would be a false negative).")
    attention_dropout: float | None = Field(
        0.0, ge=0, lt=1,
        description="Dropout on attention probabilities while training. 0 lets PyTorch use its fused attention "
        "kernel: steps about twice as fast on a CPU, where attention dropout was half the step. None = the base "
        "model's own (0.1 for all-MiniLM-L6-v2). Hidden-state dropout is unchanged; the saved config keeps its value.",
    )
    attention_kernel: Literal["auto", "eager", "math", "pytorch"] = Field(
        "auto",
        description="Attention kernel of the training steps: eager = the transformers library's matmul + softmax "
        "attention, whose backward on a CPU is much faster than the fused flash kernel's; math = PyTorch's unfused "
        "kernel (the same matmuls plus masked-row checks); pytorch = PyTorch's own choice (the fused kernel when "
        "attention dropout is 0); auto = on a CPU eager for batches of fewer than 192 tokens and the fused kernel "
        "for longer ones, on a GPU pytorch. Evaluation and encoding always use PyTorch's choice.",
    )
    group_by_length: bool = Field(
        True,
        description="Batch pairs of similar token length (sorted inside large random windows, batch order shuffled) "
        "so less compute goes to padding; off = random batches.",
    )
    group_min_saving: float = Field(
        0.05, ge=0, le=1,
        description="With group_by_length: group only datasets where, planned before training, grouping removes at "
        "least this share of the token positions random batches would pad (0 = always group). Grouping repeats "
        "in-batch negatives across epochs on small datasets, so it is used only where it buys speed.",
    )
    multi_dataset_sampler: Literal["round_robin", "proportional"] = Field(
        "round_robin",
        description="With several datasets (never mixed in a batch): round_robin = one batch from each in turn "
        "until one runs out; proportional = every batch of every dataset, in a seeded random order.",
    )
    logq_correction: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Subtract log q(positive) from in-batch logits (sampling-bias correction, Yi et al. 2019) so "
        "popular items are not pushed down for being frequent negatives; auto = on for recommendation data.",
    )
    hard_negatives: int = Field(
        0, ge=0, le=16, description="Hard negatives mined per pair (0 = off), by the ranker hard_negatives_from names."
    )
    hard_negatives_from: Literal["dense", "bm25", "hybrid"] = Field(
        "dense",
        description="Which ranker mines them: dense = the base model; bm25 = BM25; hybrid = the base model fused with "
        "BM25 by the documented default fusion (what a served hybrid ranks without training). bm25/hybrid teach the "
        "model the lexical near-misses a hybrid would still rank high.",
    )
    hard_negative_range_min: int = Field(10, ge=0, description="Skip the top-ranked candidates (likely unlabeled positives).")
    hard_negative_range_max: int = Field(50, ge=1, description="Sample negatives among the top this-many candidates.")
    hard_negative_margin: float | None = Field(
        0.05, description="Relative margin: a negative must score below (1 - margin) x the positive's similarity."
    )
    merge_base: float | None = Field(
        None, ge=0.0, le=1.0,
        description="After training, interpolate the weights with the base model (WiSE-FT): "
        "(1 - merge_base) * base + merge_base * tuned. 0.5 guards synthetic-query training against drift; "
        "None = keep the fine-tuned weights.",
    )
    precision: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto",
        description="auto = bf16 autocast on a CPU with AMX or AVX512-BF16 (fp32 on other CPUs), bf16 (else fp16) "
        "on a GPU. Weights stay fp32; the saved model is fp32.",
    )
    eval_split: str = Field("dev", description="Split used for per-epoch evaluation and best-model selection.")
    dev_corpus_max: int | None = Field(
        2000, ge=10, description="Per-epoch evaluation ranks against the relevant docs plus a sample up to this size."
    )
    final_split: str | None = Field(
        "test", description="Split for the final evaluation with baselines (falls back to eval_split if missing)."
    )
    keep: Literal["best", "last"] = Field("best", description="Which epoch's model to save.")
    keep_checkpoints: bool = Field(True, description="Keep per-epoch checkpoints under OUTPUT/checkpoints.")
    checkpoint_steps: int | None = Field(
        200, ge=1,
        description="Also checkpoint every this many optimizer steps (besides every epoch's end), so that --resume "
        "loses at most this much work; None = at epoch ends only. Step checkpoints are removed when the run ends.",
    )
    resume: bool = Field(
        False,
        description="Continue the interrupted run of the same config from the last complete checkpoint in "
        "OUTPUT.partial (a new run if there is none).",
    )
    max_pairs: int | None = Field(None, ge=1, description="Use at most this many training pairs (a seeded sample).")
    eval_batch_size: int = Field(64, ge=1, description="Texts per encoding batch in evaluations.")
    logging_steps: int = Field(10, ge=1, description="Log the training loss every this many optimizer steps.")
    baselines: bool = Field(True, description="Evaluate base model and BM25/popularity beside the tuned model.")
    force: bool = Field(False, description="Train even when the data doctor reports errors.")
    overwrite: bool = Field(False, description="Replace an output folder that is not empty and not a previous train run.")

    @field_validator("data", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, str | Path):
            return [value]
        return value

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.hard_negative_range_max <= self.hard_negative_range_min:
            raise ValueError("hard_negative_range_max must be larger than hard_negative_range_min")
        if self.mini_batch_size is not None and self.logq_correction == "on":
            raise ValueError("logq_correction is not available with mini_batch_size (CachedMultipleNegativesRankingLoss)")
        if self.mini_batch_size is not None and self.mini_batch_size > self.batch_size:
            raise ValueError("mini_batch_size cannot exceed batch_size")
        return self

    def require_io(self) -> None:
        if not self.data:
            raise EmbedtuneError("no training data: pass --data DATA (or set data: in the config file)")
        if self.output is None:
            raise EmbedtuneError("no output folder: pass --output OUT_DIR (or set output: in the config file)")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


ConfigT = TypeVar("ConfigT", bound=BaseModel)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file (an empty file is an empty mapping).

    A missing file, text that is not UTF-8, bad YAML or a top level that is not a mapping raises
    :class:`~embedtune.errors.DataError` naming the file and, where YAML knows it, the line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "config file not found")
    with path.open("rb") as fh:
        text = "".join(decode_line(raw, path, line_no) for line_no, raw in enumerate(fh, start=1))
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        reason = ", ".join(str(p) for p in parts if p) or str(exc).splitlines()[0]
        raise DataError(path, f"not valid YAML: {reason}", mark.line + 1 if mark is not None else None) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise DataError(path, "expected a mapping of settings at the top level", 1)
    return loaded


def load_config(
    model: type[ConfigT],
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    section: str | None = None,
    ignore: Iterable[str] = (),
    what: str = "configuration",
) -> ConfigT:
    """Read a YAML config (optional), apply ``overrides`` (CLI flags) and validate it into ``model``.

    ``section``: settings may sit under this top-level key instead of at the top level. ``ignore``:
    keys dropped from the file (documentation-only blocks). An override of ``None`` is no override;
    a dict override updates the file's dict key by key. Bad YAML names the file and line (see
    :func:`read_yaml`); a bad value raises :class:`EmbedtuneError` naming the file and each field.

    Example::

        cfg = load_config(TrainConfig, "recipe.yaml", {"epochs": 2})
    """
    values: dict[str, Any] = {}
    if path is not None:
        values = read_yaml(path)
        if section is not None and isinstance(values.get(section), dict):
            values = values[section]
        values = {k: v for k, v in values.items() if k not in set(ignore)}
    for key, value in (overrides or {}).items():
        if isinstance(value, dict):
            values[key] = {**(values.get(key) or {}), **{k: v for k, v in value.items() if v is not None}}
        elif value is not None:
            values[key] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise EmbedtuneError(f"{path or 'flags'}: invalid {what}: {problems}") from None


def load_train_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Read a YAML config (optional) and apply overrides (flags); ``None`` overrides are ignored."""
    return load_config(TrainConfig, path, overrides, ignore=("seed_run",))  # seed_run: documentation in recipes
