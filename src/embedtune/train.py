"""Fine-tune a bi-encoder on sentence-transformers' ``SentenceTransformerTrainer``.

One call, :func:`train`, runs the whole job: read pairs → data doctor → (optional) hard-negative
mining → MultipleNegativesRankingLoss training with per-epoch dev evaluation and checkpoints → keep
the best (or last) epoch → final evaluation against the baselines → model card. The output folder is
written atomically: it appears complete, or not at all.

Loss: MultipleNegativesRankingLoss (Henderson et al. 2017; scale 20, cosine similarity) — each anchor's
positive must outrank every other positive (and negative) in the batch — or its cached variant
(Gao et al. 2021, GradCache) when ``mini_batch_size`` is set.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedtune.config import TrainConfig
from embedtune.data.beir import is_beir_dir, load_retrieval_split, read_corpus, read_manifest, read_queries
from embedtune.data.pairs import beir_training_pairs, load_training_pairs
from embedtune.data.recommended import apply_recommended_training
from embedtune.data.records import Document, Pair, RetrievalSplit
from embedtune.errors import EmbedtuneError
from embedtune.fileio import atomic_dir, write_json_atomic, write_text_atomic

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    output: Path
    n_pairs: int
    epoch_losses: list[float]
    dev_history: list[dict[str, float]]
    learned_nothing: bool
    seconds: float
    pairs_per_second: float
    eval: Any = None  # embedtune.eval.EvalResult of the final evaluation
    doctor: Any = None  # embedtune.doctor.DoctorReport
    warnings: list[str] = field(default_factory=list)


def _sample_dev(split: RetrievalSplit, max_docs: int | None, seed: int) -> RetrievalSplit:
    """Shrink the dev corpus to its relevant docs plus a seeded sample, to keep per-epoch eval cheap."""
    if max_docs is None or len(split.corpus) <= max_docs:
        return split
    needed = {d for qid in split.query_ids for d in split.relevant(qid)}
    others = sorted(set(split.corpus) - needed)
    random.Random(seed).shuffle(others)
    keep = needed | set(others[: max(0, max_docs - len(needed))])
    corpus = {d: doc for d, doc in split.corpus.items() if d in keep}
    return RetrievalSplit(split.name, corpus, split.queries, split.qrels, split.exclude, split.kind)


def _load_inputs(
    config: TrainConfig,
) -> tuple[dict[str, list[Pair]], RetrievalSplit | None, list[RetrievalSplit], dict[str, Document] | None]:
    """Training pairs per dataset, the dev split and every held-out split of the first BEIR folder, and its corpus.

    Each BEIR folder's corpus and queries are read once and shared by its pairs and splits.
    """
    datasets: dict[str, list[Pair]] = {}
    dev: RetrievalSplit | None = None
    held_out: list[RetrievalSplit] = []
    eval_corpus: dict[str, Document] | None = None
    for i, data in enumerate(config.data):
        name = Path(data).stem.replace(".", "_") or f"data{i}"
        while name in datasets:
            name = f"{name}_{i}"
        if not is_beir_dir(data):
            datasets[name] = load_training_pairs(data)
            continue
        data_dir = Path(data)
        if not (data_dir / "qrels" / "train.tsv").is_file() and not (data_dir / "pairs.jsonl").is_file():
            raise EmbedtuneError(f"{data_dir} has no qrels/train.tsv to train on")
        corpus = read_corpus(data_dir / "corpus.jsonl")
        queries = read_queries(data_dir / "queries.jsonl")
        datasets[name] = beir_training_pairs(data_dir, corpus=corpus, queries=queries)
        if eval_corpus is None:
            eval_corpus = corpus
            for split_name in dict.fromkeys([config.eval_split, config.final_split or config.eval_split]):
                if (data_dir / "qrels" / f"{split_name}.tsv").is_file():
                    held_out.append(load_retrieval_split(data_dir, split_name, corpus=corpus, queries=queries))
            dev = next((s for s in held_out if s.name == config.eval_split), None)
    if config.max_pairs is not None:
        total = sum(len(p) for p in datasets.values())
        if total > config.max_pairs:
            rng = random.Random(config.seed)
            for name, pairs in datasets.items():
                keep = max(1, round(len(pairs) * config.max_pairs / total))
                datasets[name] = rng.sample(pairs, keep)
    return datasets, dev, held_out, eval_corpus


def _to_dataset(pairs: list[Pair]):
    from datasets import Dataset

    columns: dict[str, list[str]] = {"anchor": [p.anchor for p in pairs], "positive": [p.positive for p in pairs]}
    n_neg = len(pairs[0].negatives) if pairs else 0
    for j in range(n_neg):
        columns[f"negative_{j + 1}"] = [p.negatives[j] for p in pairs]
    return Dataset.from_dict(columns)


def _mine_negatives(
    pairs: list[Pair], model, config: TrainConfig, corpus_texts: list[str] | None
) -> tuple[list[Pair], int]:
    """Add ``config.hard_negatives`` mined negatives to every pair; returns the pairs and how many got random ones.

    sentence-transformers' ``mine_hard_negatives`` drops every pair for which it finds fewer than
    ``num_negatives`` candidates in ``[range_min, range_max)`` below the relative margin. Those are the
    queries whose positive the base model scores low — the pairs with the most to teach (on SciFact's
    train split, 131 of 835 pairs at one negative). They are kept here, with negatives drawn at random
    from the corpus instead (what FlagEmbedding's ``hn_mine`` does when the range runs dry).
    """
    from sentence_transformers.util import mine_hard_negatives

    k = config.hard_negatives
    mined = mine_hard_negatives(
        _to_dataset(pairs),
        model,
        corpus=corpus_texts,
        range_min=config.hard_negative_range_min,
        range_max=config.hard_negative_range_max,
        relative_margin=config.hard_negative_margin,
        num_negatives=k,
        sampling_strategy="top",
        output_format="n-tuple",
        batch_size=config.eval_batch_size,
        verbose=False,
        # Mining re-encodes the whole corpus with the base model: cache it across runs.
        cache_folder=str(_mining_cache_dir()),
    )
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for row in mined:
        found[(row["anchor"], row["positive"])] = tuple(row[f"negative_{j + 1}"] for j in range(k))
    pool = list(dict.fromkeys(corpus_texts if corpus_texts is not None else (p.positive for p in pairs)))
    positives_of: dict[str, set[str]] = {}
    for p in pairs:
        positives_of.setdefault(p.anchor, set()).add(p.positive)
    rng = random.Random(config.seed)
    out: list[Pair] = []
    n_random = 0
    for p in pairs:
        negatives = found.get((p.anchor, p.positive))
        if negatives is None:
            n_random += 1
            negatives = _random_negatives(pool, positives_of[p.anchor], k, rng)
        out.append(Pair(p.anchor, p.positive, negatives))
    return out, n_random


def _random_negatives(pool: list[str], exclude: set[str], k: int, rng: random.Random) -> tuple[str, ...]:
    """``k`` distinct texts drawn from ``pool`` (distinct texts) that are not in ``exclude``."""
    chosen: list[str] = []
    for _ in range(50 * k):
        if len(chosen) == k:
            break
        text = pool[rng.randrange(len(pool))]
        if text not in exclude and text not in chosen:
            chosen.append(text)
    if len(chosen) < k:  # a tiny pool that random draws keep missing: take the first eligible texts
        chosen += [t for t in pool if t not in exclude and t not in chosen][: k - len(chosen)]
    if len(chosen) < k:
        raise EmbedtuneError(f"cannot draw {k} negatives: the corpus has too few texts besides the positives")
    return tuple(chosen)


def _mining_cache_dir() -> Path:
    from embedtune.fileio import cache_root

    return cache_root() / "mining"


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _precision_flags(precision: str) -> dict[str, bool]:
    import torch

    if precision == "fp16":
        return {"fp16": True}
    if precision == "bf16":
        return {"bf16": True}
    if precision == "auto" and torch.cuda.is_available():
        return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}
    return {}


def _epoch_losses(log_history: list[dict[str, Any]]) -> list[float]:
    """Mean logged training loss per epoch (logs are every ``logging_steps`` steps)."""
    per_epoch: dict[int, list[float]] = {}
    for entry in log_history:
        if "loss" in entry and "epoch" in entry:
            epoch_index = max(0, math.ceil(entry["epoch"] - 1e-9) - 1)
            per_epoch.setdefault(epoch_index, []).append(float(entry["loss"]))
    return [sum(v) / len(v) for _, v in sorted(per_epoch.items())]


def _use_logq(config: TrainConfig) -> bool:
    """logQ correction: explicit on/off, or auto = on when the first BEIR folder is recommendation data."""
    if config.logq_correction != "auto":
        return config.logq_correction == "on"
    if config.mini_batch_size:
        return False
    first = next((Path(d) for d in config.data if is_beir_dir(d)), None)
    return first is not None and read_manifest(first).get("kind") == "recsys"


def chance_loss(batch_size: int, n_negatives: int = 0) -> float:
    """MNRL loss of a model that cannot tell candidates apart: ln(number of candidates per anchor)."""
    return math.log(batch_size * (1 + n_negatives))


def train(config: TrainConfig, show_progress: bool = True, echo=print) -> TrainResult:
    """Run a full fine-tune described by ``config``; see the module docstring."""
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )
    from sentence_transformers.base.sampler import BatchSamplers, MultiDatasetBatchSamplers
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
    from transformers import TrainerCallback

    from embedtune import doctor as doctor_mod
    from embedtune.base_model import load_model, resolve_model_path

    config.require_io()
    config = apply_recommended_training(config, echo)  # e.g. a site DATA_DIR's measured recipe
    started = time.perf_counter()
    output = Path(config.output)
    datasets, dev, held_out, eval_corpus = _load_inputs(config)
    eval_dir = next((Path(d) for d in config.data if is_beir_dir(d)), None)
    n_pairs = sum(len(p) for p in datasets.values())
    base_path = resolve_model_path(config.base_model)
    model = load_model(base_path, max_seq_length=config.max_seq_length)
    card_data = model.model_card_data
    card_data.language = ["en"]
    card_data.license = "apache-2.0"
    card_data.model_name = f"{output.name} (fine-tuned from {config.base_model} with embedtune)"

    all_pairs = [p for pairs in datasets.values() for p in pairs]
    report = doctor_mod.diagnose(
        all_pairs, eval_splits=held_out, max_seq_length=config.max_seq_length, batch_size=config.batch_size,
        tokenizer=model.tokenizer,
    )
    for finding in report.findings:
        echo(f"doctor [{finding.severity}] {finding.message}")
    if report.has_errors and not config.force:
        raise EmbedtuneError(
            "the data doctor found errors (above) that would make the evaluation dishonest; fix the data "
            "or pass --force to train anyway"
        )

    corpus_texts = [d.full_text for d in eval_corpus.values()] if eval_corpus is not None else None
    train_datasets = {}
    for name, pairs in datasets.items():
        if config.hard_negatives and not pairs[0].negatives:
            echo(f"mining {config.hard_negatives} hard negative(s) per pair for {name} with the base model ...")
            pairs, n_random = _mine_negatives(pairs, model, config, corpus_texts)
            if n_random:
                echo(
                    f"hard negatives: {n_random} of {len(pairs)} pairs in {name} had too few candidates ranked "
                    f"{config.hard_negative_range_min}-{config.hard_negative_range_max} below the margin; they are "
                    "kept with random corpus negatives"
                )
        train_datasets[name] = _to_dataset(pairs)
    n_neg = len(next(iter(train_datasets.values())).column_names) - 2

    use_logq = _use_logq(config)
    chance = chance_loss(config.batch_size, n_neg)
    if use_logq:
        from embedtune.losses import LogQCorrectedMNRL, chance_loss_logq, log_sampling_probabilities

        all_log_q: list[float] = []
        for name, ds in train_datasets.items():
            log_q = log_sampling_probabilities(ds["positive"])
            all_log_q.extend(log_q)
            train_datasets[name] = ds.add_column("label", log_q)
        chance = chance_loss_logq(all_log_q, config.batch_size, seed=config.seed)
        echo(f"logQ correction on: in-batch logits minus log q(positive); chance-level loss {chance:.3f}")
        loss = LogQCorrectedMNRL(model, scale=config.scale)
    elif config.mini_batch_size:
        loss = losses.CachedMultipleNegativesRankingLoss(model, scale=config.scale, mini_batch_size=config.mini_batch_size)
    else:
        loss = losses.MultipleNegativesRankingLoss(model, scale=config.scale)

    evaluator = None
    metric_for_best = None
    dev_history: list[dict[str, float]] = []
    if dev is not None:
        dev_small = _sample_dev(dev, config.dev_corpus_max, config.seed)
        evaluator = InformationRetrievalEvaluator(
            queries={q: dev_small.queries[q] for q in dev_small.query_ids},
            corpus={d: doc.full_text for d, doc in dev_small.corpus.items()},
            relevant_docs={q: dev_small.relevant(q) for q in dev_small.query_ids},
            name=dev.name,
            batch_size=config.eval_batch_size,
            show_progress_bar=False,
            write_csv=False,
        )
        metric_for_best = f"eval_{dev.name}_cosine_ndcg@10"
        before = evaluator(model)
        dev_history.append({"epoch": 0.0, **{k.removeprefix(f"{dev.name}_"): v for k, v in before.items()}})
        echo(f"split {dev.name!r} before training: ndcg@10 {before[f'{dev.name}_cosine_ndcg@10']:.4f}")

    loss_threshold = 0.9 * chance
    warnings: list[str] = []

    class EpochWatch(TrainerCallback):
        """Warn as soon as an epoch ends with the loss still near chance (the model is learning nothing)."""

        def on_epoch_end(self, args, state, control, **kwargs):
            losses_so_far = _epoch_losses(state.log_history)
            if losses_so_far and losses_so_far[-1] >= loss_threshold:
                message = (
                    f"epoch {len(losses_so_far)}: mean loss {losses_so_far[-1]:.3f} is still >= 0.9 x ln(candidates) "
                    f"= {loss_threshold:.3f}: the model is learning nothing so far"
                )
                logger.warning(message)

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if metrics and dev is not None:
                prefix = f"eval_{dev.name}_"
                dev_history.append(
                    {"epoch": float(state.epoch or 0), **{k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}}
                )

    # Log at least twice per epoch so every epoch has a mean loss for the learned-nothing check.
    smallest = min(len(p) for p in datasets.values())
    steps_per_epoch = max(1, (n_pairs if len(datasets) == 1 else smallest * len(datasets)) // config.batch_size)
    logging_steps = max(1, min(config.logging_steps, steps_per_epoch // 2))
    if not show_progress:
        import datasets as hf_datasets
        import transformers

        transformers.utils.logging.disable_progress_bar()
        hf_datasets.disable_progress_bars()

    # Under torchrun every rank runs this function; only rank 0 writes the output folder, the
    # others train in a scratch folder that disappears (the HF trainer saves from rank 0 only).
    is_main = int(os.environ.get("RANK", "0")) == 0
    workspace = atomic_dir(output) if is_main else tempfile.TemporaryDirectory(prefix="embedtune-rank-")
    with workspace as tmp_name:
        tmp = Path(tmp_name)
        ckpt_dir = tmp / "checkpoints"
        args = SentenceTransformerTrainingArguments(
            output_dir=str(ckpt_dir),
            num_train_epochs=config.epochs,
            per_device_train_batch_size=config.batch_size,
            per_device_eval_batch_size=config.eval_batch_size,
            learning_rate=config.lr,
            lr_scheduler_type=config.lr_scheduler,
            warmup_steps=config.warmup_ratio,
            weight_decay=config.weight_decay,
            seed=config.seed,
            data_seed=config.seed,
            batch_sampler=BatchSamplers.NO_DUPLICATES if config.no_duplicates else BatchSamplers.BATCH_SAMPLER,
            multi_dataset_batch_sampler=(
                MultiDatasetBatchSamplers.ROUND_ROBIN
                if config.multi_dataset_sampler == "round_robin"
                else MultiDatasetBatchSamplers.PROPORTIONAL
            ),
            eval_strategy="epoch" if evaluator else "no",
            save_strategy="epoch",
            save_total_limit=None if config.keep_checkpoints else 1,
            load_best_model_at_end=bool(evaluator) and config.keep == "best",
            metric_for_best_model=metric_for_best if config.keep == "best" else None,
            greater_is_better=True,
            logging_steps=logging_steps,
            logging_first_step=True,
            report_to="none",
            disable_tqdm=not show_progress,
            dataloader_pin_memory=_has_cuda(),
            **_precision_flags(config.precision),
        )
        train_ds = train_datasets if len(train_datasets) > 1 else next(iter(train_datasets.values()))
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=train_ds,
            loss=loss,
            evaluator=evaluator,
            callbacks=[EpochWatch()],
        )
        if not show_progress:
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)
        train_started = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - train_started
        epoch_losses = _epoch_losses(trainer.state.log_history)
        loss_finding = doctor_mod.check_training_loss(
            epoch_losses, config.batch_size * (1 + n_neg), chance=chance if use_logq else None
        )
        learned_nothing = loss_finding is not None
        if loss_finding is not None:
            report.findings.append(loss_finding)
            warnings.append(loss_finding.message)
            echo(f"doctor [{loss_finding.severity}] {loss_finding.message}")

        model = trainer.model
        if not trainer.is_world_process_zero():
            return TrainResult(output, n_pairs, epoch_losses, dev_history, learned_nothing, 0.0, 0.0)
        if config.merge_base is not None:
            from embedtune.merge import interpolate_with_base

            interpolate_with_base(model, load_model(config.base_model), config.merge_base)
            echo(f"weights interpolated with the base model: {1 - config.merge_base:g} x base + "
                 f"{config.merge_base:g} x tuned (WiSE-FT)")
        model.save(str(tmp))
        if not config.keep_checkpoints:
            shutil.rmtree(ckpt_dir, ignore_errors=True)

        eval_result = None
        final_split = next((s for s in held_out if s.name == config.final_split), None) or dev
        if final_split is not None and eval_dir is not None:
            from embedtune.eval import evaluate, write_eval

            echo(f"final evaluation on split {final_split.name!r} ({len(final_split.query_ids)} queries) with baselines ...")
            eval_result = evaluate(
                tmp, eval_dir, final_split.name, base_model=config.base_model, baselines=config.baselines,
                batch_size=config.eval_batch_size, loaded_model=model, loaded_split=final_split,
                model_description=f"fine-tuned {output.name} (from {config.base_model})",
            )
            if learned_nothing:
                eval_result.warnings.insert(0, loss_finding.message)
            write_eval(eval_result, tmp)

        seconds = time.perf_counter() - started
        pairs_seen = n_pairs * config.epochs
        log = {
            "log_history": trainer.state.log_history,
            "epoch_losses": epoch_losses,
            "chance_loss": chance,
            "logq_correction": use_logq,
            "learned_nothing": learned_nothing,
            "dev_history": dev_history,
            "n_pairs": n_pairs,
            "train_seconds": round(train_seconds, 2),
            "total_seconds": round(seconds, 2),
            "pairs_per_second": round(pairs_seen / train_seconds, 3) if train_seconds else None,
            "best_checkpoint": trainer.state.best_model_checkpoint and Path(trainer.state.best_model_checkpoint).name,
            "merge_base": config.merge_base,
        }
        write_json_atomic(tmp / "train_log.json", log)
        write_json_atomic(tmp / "doctor.json", report.to_dict())
        write_text_atomic(tmp / "config.yaml", config.to_yaml())
        from embedtune.card import add_embedtune_section

        add_embedtune_section(tmp / "README.md", config, eval_result, report, log)
        from embedtune.report import write_report

        write_report(tmp)
        result = TrainResult(
            output=output,
            n_pairs=n_pairs,
            epoch_losses=epoch_losses,
            dev_history=dev_history,
            learned_nothing=learned_nothing,
            seconds=seconds,
            pairs_per_second=log["pairs_per_second"] or 0.0,
            eval=eval_result,
            doctor=report,
            warnings=warnings,
        )
    return result


def load_train_log(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "train_log.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
