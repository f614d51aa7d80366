"""Stage 1, prepare: everything a fine-tune needs, read and checked before the first step.

:func:`prepare` reads the training pairs (files or BEIR folders) and the held-out splits, loads the
base model, runs the data doctor (errors stop the run unless ``force``), mines hard negatives,
chooses the loss (MNRL, its cached variant, or the logQ-corrected one on recommendation data) and
its chance level, and builds the per-epoch dev evaluator. Nothing is written. Its record,
:class:`Prepared`, is what :func:`embedtune.training.fit.fit` trains on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer import losses
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
from sentence_transformers.util import mine_hard_negatives

from embedtune.base_model import load_model, resolve_model_path
from embedtune.chance import chance_loss
from embedtune.config import TrainConfig
from embedtune.data.beir import is_beir_dir, load_retrieval_split, read_corpus, read_manifest, read_queries
from embedtune.data.pairs import beir_training_pairs, load_training_pairs
from embedtune.data.records import Document, Pair, RetrievalSplit
from embedtune.doctor import DoctorReport, diagnose
from embedtune.errors import EmbedtuneError
from embedtune.fileio import cache_root
from embedtune.losses import LogQCorrectedMNRL, chance_loss_logq, log_sampling_probabilities
from embedtune.training.negatives import mine_ranked_negatives


@dataclass
class Inputs:
    """What the data paths of a config hold: pairs per dataset and the first BEIR folder's splits."""

    datasets: dict[str, list[Pair]]
    dev: RetrievalSplit | None  # per-epoch evaluation and best-epoch selection
    held_out: list[RetrievalSplit]  # the dev and final splits of the first BEIR folder
    eval_corpus: dict[str, Document] | None
    eval_dir: Path | None  # the first BEIR folder: the final evaluation reads it

    @property
    def n_pairs(self) -> int:
        return sum(len(p) for p in self.datasets.values())


@dataclass
class Prepared:
    """The output of :func:`prepare`: a model, its loss and data, checked and ready to train."""

    inputs: Inputs
    model: SentenceTransformer
    train_datasets: dict[str, Dataset]  # one per data path; column "label" = log q when use_logq
    loss: Any  # a sentence-transformers loss module
    use_logq: bool
    n_negatives: int  # hard negatives per pair
    chance: float  # loss of a model that cannot tell candidates apart (the learned-nothing reference)
    evaluator: InformationRetrievalEvaluator | None
    doctor: DoctorReport
    world_size: int = 1  # training processes (torchrun); batch_size is the global batch

    @property
    def n_pairs(self) -> int:
        return self.inputs.n_pairs


def prepare(config: TrainConfig, echo=print, world_size: int = 1) -> Prepared:
    """Read, check and assemble a fine-tune; see the module docstring. ``world_size``: training processes."""
    inputs = load_inputs(config)
    model = load_model(resolve_model_path(config.base_model), max_seq_length=config.max_seq_length)
    card_data = model.model_card_data
    card_data.language = ["en"]
    card_data.license = "apache-2.0"
    card_data.model_name = f"{Path(config.output).name} (fine-tuned from {config.base_model} with embedtune)"

    report = diagnose(
        [p for pairs in inputs.datasets.values() for p in pairs], eval_splits=inputs.held_out,
        max_seq_length=config.max_seq_length, batch_size=config.batch_size, tokenizer=model.tokenizer,
    )
    for finding in report.findings:
        echo(f"doctor [{finding.severity}] {finding.message}")
    if report.has_errors and not config.force:
        raise EmbedtuneError(
            "the data doctor found errors (above) that would make the evaluation dishonest; fix the data "
            "or pass --force to train anyway"
        )

    corpus_texts = [d.full_text for d in inputs.eval_corpus.values()] if inputs.eval_corpus is not None else None
    train_datasets = {}
    for name, pairs in inputs.datasets.items():
        if config.hard_negatives and not pairs[0].negatives:
            ranker = {"dense": "the base model", "bm25": "BM25", "hybrid": "the base model ⊕ BM25"}[config.hard_negatives_from]
            echo(f"mining {config.hard_negatives} hard negative(s) per pair for {name} with {ranker} ...")
            pairs, n_random = mine_negatives(pairs, model, config, corpus_texts)
            if n_random:
                echo(
                    f"hard negatives: {n_random} of {len(pairs)} pairs in {name} had too few candidates ranked "
                    f"{config.hard_negative_range_min}-{config.hard_negative_range_max} below the margin; they are "
                    "kept with random corpus negatives"
                )
        train_datasets[name] = to_dataset(pairs)
    n_negatives = len(next(iter(train_datasets.values())).column_names) - 2

    use_logq = use_logq_correction(config)
    chance = chance_loss(config.batch_size, n_negatives)
    if use_logq:
        all_log_q: list[float] = []
        for name, ds in train_datasets.items():
            log_q = log_sampling_probabilities(ds["positive"])
            all_log_q.extend(log_q)
            train_datasets[name] = ds.add_column("label", log_q)
        chance = chance_loss_logq(all_log_q, config.batch_size, seed=config.seed)
        echo(f"logQ correction on: in-batch logits minus log q(positive); chance-level loss {chance:.3f}")
    return Prepared(
        inputs=inputs, model=model, train_datasets=train_datasets, loss=build_loss(model, config, use_logq, world_size),
        use_logq=use_logq, n_negatives=n_negatives, chance=chance,
        evaluator=dev_evaluator(inputs.dev, config), doctor=report, world_size=world_size,
    )


def load_inputs(config: TrainConfig) -> Inputs:
    """Training pairs per dataset, and the dev and final splits and corpus of the first BEIR folder.

    Each BEIR folder's corpus and queries are read once and shared by its pairs and splits.
    """
    datasets: dict[str, list[Pair]] = {}
    dev: RetrievalSplit | None = None
    held_out: list[RetrievalSplit] = []
    eval_corpus: dict[str, Document] | None = None
    eval_dir: Path | None = None
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
            eval_corpus, eval_dir = corpus, data_dir
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
    return Inputs(datasets, dev, held_out, eval_corpus, eval_dir)


def to_dataset(pairs: list[Pair]) -> Dataset:
    """Columns anchor, positive, negative_1..n: the order MNRL reads them in."""
    columns: dict[str, list[str]] = {"anchor": [p.anchor for p in pairs], "positive": [p.positive for p in pairs]}
    n_neg = len(pairs[0].negatives) if pairs else 0
    for j in range(n_neg):
        columns[f"negative_{j + 1}"] = [p.negatives[j] for p in pairs]
    return Dataset.from_dict(columns)


def mine_negatives(
    pairs: list[Pair], model: SentenceTransformer, config: TrainConfig, corpus_texts: list[str] | None
) -> tuple[list[Pair], int]:
    """Add ``config.hard_negatives`` mined negatives to every pair; returns the pairs and how many got random ones.

    sentence-transformers' ``mine_hard_negatives`` drops every pair for which it finds fewer than
    ``num_negatives`` candidates in ``[range_min, range_max)`` below the relative margin. Those are the
    queries whose positive the base model scores low — the pairs with the most to teach (on SciFact's
    train split, 131 of 835 pairs at one negative). They are kept here, with negatives drawn at random
    from the corpus instead (what FlagEmbedding's ``hn_mine`` does when the range runs dry).
    ``config.hard_negatives_from`` ``bm25`` or ``hybrid`` mines with that ranker instead, by the same rules
    (:mod:`embedtune.training.negatives`).
    """
    k = config.hard_negatives
    pool = list(dict.fromkeys(corpus_texts if corpus_texts is not None else (p.positive for p in pairs)))
    positives_of: dict[str, set[str]] = {}
    for p in pairs:
        positives_of.setdefault(p.anchor, set()).add(p.positive)
    rng = random.Random(config.seed)
    if config.hard_negatives_from != "dense":
        ranked, short = mine_ranked_negatives(pairs, model, config, corpus_texts)
        for i in short:
            ranked[i] = Pair(pairs[i].anchor, pairs[i].positive, random_negatives(pool, positives_of[pairs[i].anchor], k, rng))
        return ranked, len(short)
    mined = mine_hard_negatives(
        to_dataset(pairs),
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
        cache_folder=str(cache_root() / "mining"),
    )
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for row in mined:
        found[(row["anchor"], row["positive"])] = tuple(row[f"negative_{j + 1}"] for j in range(k))
    out: list[Pair] = []
    n_random = 0
    for p in pairs:
        negatives = found.get((p.anchor, p.positive))
        if negatives is None:
            n_random += 1
            negatives = random_negatives(pool, positives_of[p.anchor], k, rng)
        out.append(Pair(p.anchor, p.positive, negatives))
    return out, n_random


def random_negatives(pool: list[str], exclude: set[str], k: int, rng: random.Random) -> tuple[str, ...]:
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


def use_logq_correction(config: TrainConfig) -> bool:
    """logQ correction: explicit on/off, or auto = on when the first BEIR folder is recommendation data."""
    if config.logq_correction != "auto":
        return config.logq_correction == "on"
    if config.mini_batch_size:
        return False
    first = next((Path(d) for d in config.data if is_beir_dir(d)), None)
    return first is not None and read_manifest(first).get("kind") == "recsys"


def build_loss(model: SentenceTransformer, config: TrainConfig, use_logq: bool, world_size: int = 1) -> Any:
    """The in-batch loss: logQ-corrected MNRL, cached MNRL (``mini_batch_size``) or MNRL.

    With several processes each gathers every process's embeddings, so that the in-batch negatives
    span the global batch.
    """
    gather = world_size > 1
    if use_logq:
        return LogQCorrectedMNRL(model, scale=config.scale, gather_across_devices=gather)
    if config.mini_batch_size:
        return losses.CachedMultipleNegativesRankingLoss(
            model, scale=config.scale, mini_batch_size=config.mini_batch_size, gather_across_devices=gather
        )
    return losses.MultipleNegativesRankingLoss(model, scale=config.scale, gather_across_devices=gather)


def sample_dev(split: RetrievalSplit, max_docs: int | None, seed: int) -> RetrievalSplit:
    """Shrink the dev corpus to its relevant docs plus a seeded sample, to keep per-epoch eval cheap."""
    if max_docs is None or len(split.corpus) <= max_docs:
        return split
    needed = {d for qid in split.query_ids for d in split.relevant(qid)}
    others = sorted(set(split.corpus) - needed)
    random.Random(seed).shuffle(others)
    keep = needed | set(others[: max(0, max_docs - len(needed))])
    corpus = {d: doc for d, doc in split.corpus.items() if d in keep}
    return RetrievalSplit(split.name, corpus, split.queries, split.qrels, split.exclude, split.kind)


def dev_evaluator(dev: RetrievalSplit | None, config: TrainConfig) -> InformationRetrievalEvaluator | None:
    """Per-epoch evaluation on the dev split (its corpus sampled to ``dev_corpus_max``), or None without one."""
    if dev is None:
        return None
    small = sample_dev(dev, config.dev_corpus_max, config.seed)
    return InformationRetrievalEvaluator(
        queries={q: small.queries[q] for q in small.query_ids},
        corpus={d: doc.full_text for d, doc in small.corpus.items()},
        relevant_docs={q: small.relevant(q) for q in small.query_ids},
        name=dev.name,
        batch_size=config.eval_batch_size,
        show_progress_bar=False,
        write_csv=False,
    )
