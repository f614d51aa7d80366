"""Training batches: no text twice in a batch, optionally grouped by length, sharded for several processes.

With in-batch negatives (MultipleNegativesRankingLoss) every other positive in a batch is a negative,
so a text repeated inside a batch is a false negative: batches never hold the same text twice (the
guarantee of sentence-transformers' ``NoDuplicatesBatchSampler``, kept here).

Length grouping (on by default, ``group_by_length``): a batch is padded to its longest text, so
random batches of texts of mixed length spend much of their compute on padding. Each epoch the
pairs are shuffled, cut into windows of ``WINDOW_BATCHES`` batches, sorted by token length inside
each window, cut into batches, and the batch order is shuffled again. Batches stay random samples
of the data apart from their length: the window is large, so a batch's in-batch negatives still come
from anywhere in the data. sentence-transformers 6.2 ignores transformers' ``group_by_length``; this
sampler is passed through its ``batch_sampler`` argument instead.

Grouping has a price: a dataset smaller than a window is sorted whole, the same way every epoch, so
the same rows meet in a batch epoch after epoch (SciFact's 835 pairs: half the pairs of rows that share
a batch share one again the next epoch, against 4% for random batches; ``bench/length_windows.py``).
It is only paid where it buys speed: before training, :func:`choose_grouping` plans an epoch both ways
and groups only when that removes at least ``min_saving`` (``TrainConfig.group_min_saving``, 0.05) of
the token positions random batches would spend on padding. SciFact (truncated abstracts: 10.3% → 7.1%)
keeps random batches; the bundled site (49% → 22%) and the demo shop (16% → 6%) are grouped.

Several processes (torchrun): ``batch_size`` is then the per-process share of a *global* batch. The
sampler plans global batches (no duplicates across the whole global batch, since the loss gathers
every process's embeddings) and yields each as ``world_size`` consecutive equal chunks, which
accelerate hands to the processes in turn (chunk ``k`` to rank ``k mod world_size``). A global batch
that does not divide evenly loses its last ``len % world_size`` pairs for that epoch.

Every epoch covers every pair exactly once (with one process), in an order fixed by ``seed + epoch``,
so a run resumed from a checkpoint sees the same batches as an uninterrupted one. Several datasets:
:class:`MultiDatasetSampler` interleaves their batches (round-robin or proportional) and never mixes
two datasets in one batch.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import torch
from sentence_transformers.base.sampler import DefaultBatchSampler, SetEpochMixin

logger = logging.getLogger(__name__)

# Batches per length-sorting window: large enough that a window spans the length distribution,
# so that sorting inside it removes most padding; small against the epoch, so that batch
# composition stays random.
WINDOW_BATCHES = 64
_EXCLUDED_COLUMNS = {"dataset_name"}


def plan_batches(
    n_rows: int,
    batch_size: int,
    *,
    seed: int,
    row_texts: Sequence[frozenset[str]] | None = None,
    lengths: Sequence[int] | None = None,
    window_batches: int = WINDOW_BATCHES,
    drop_last: bool = False,
) -> list[list[int]]:
    """One epoch's batches of row indices, fixed by ``seed``.

    ``row_texts``: the texts of each row; two rows sharing a text never share a batch (a conflicting
    row waits for the next batch). ``lengths``: a token count per row; when given, rows are sorted
    by it (longest first) inside shuffled windows of ``window_batches`` batches and the batches are
    shuffled afterwards. Every row lands in exactly one batch unless ``drop_last`` drops short ones.
    """
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n_rows, generator=generator).tolist()
    if lengths is not None:
        window = max(1, window_batches) * batch_size
        order = [i for start in range(0, n_rows, window)
                 for i in sorted(order[start:start + window], key=lambda i: -lengths[i])]
    batches = _cut(order, batch_size, row_texts)
    if drop_last:
        batches = [b for b in batches if len(b) == batch_size]
    if lengths is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


def _cut(order: list[int], batch_size: int, row_texts: Sequence[frozenset[str]] | None) -> list[list[int]]:
    """Cut ``order`` into batches; a row whose text is already in the batch goes back to the front of the queue."""
    queue = deque(order)
    batches: list[list[int]] = []
    while queue:
        batch: list[int] = []
        seen: set[str] = set()
        skipped: list[int] = []
        while queue and len(batch) < batch_size:
            row = queue.popleft()
            if row_texts is not None:
                texts = row_texts[row]
                if not seen.isdisjoint(texts):
                    skipped.append(row)
                    continue
                seen.update(texts)
            batch.append(row)
        queue.extendleft(reversed(skipped))
        batches.append(batch)
    return batches


def shard(batches: list[list[int]], world_size: int) -> tuple[list[list[int]], int]:
    """Split each global batch into ``world_size`` consecutive equal chunks; returns the chunks and the
    number of rows dropped because a batch did not divide evenly."""
    if world_size == 1:
        return batches, 0
    chunks: list[list[int]] = []
    dropped = 0
    for batch in batches:
        size = len(batch) // world_size
        dropped += len(batch) - size * world_size
        if size:
            chunks += [batch[r * size:(r + 1) * size] for r in range(world_size)]
    return chunks, dropped


def row_texts_of(dataset: Any, valid_label_columns: Sequence[str] | None = None) -> list[frozenset[str]]:
    """The set of text values of each row (label and dataset-name columns excluded)."""
    skip = _EXCLUDED_COLUMNS | set(valid_label_columns or ())
    columns = [list(dataset[c]) for c in dataset.column_names if c not in skip]
    return [frozenset(str(v) for v in values) for values in zip(*columns, strict=True)]


def column_token_lengths(dataset: Any, tokenizer: Any, max_seq_length: int,
                         valid_label_columns: Sequence[str] | None = None, chunk: int = 1024) -> list[list[int]]:
    """Tokens per row of each text column, truncated to ``max_seq_length`` as in training (a list per column)."""
    skip = _EXCLUDED_COLUMNS | set(valid_label_columns or ())
    columns = []
    for column in dataset.column_names:
        if column in skip:
            continue
        values = list(dataset[column])
        lengths: list[int] = []
        for start in range(0, len(values), chunk):
            encoded = tokenizer(values[start:start + chunk], truncation=True, max_length=max_seq_length)["input_ids"]
            lengths += [len(ids) for ids in encoded]
        columns.append(lengths)
    return columns


def row_lengths(column_lengths: Sequence[Sequence[int]]) -> list[int]:
    """Tokens per row, summed over its columns (the key length grouping sorts by)."""
    return [sum(row) for row in zip(*column_lengths, strict=True)]


def padding_share(batches: Sequence[Sequence[int]], column_lengths: Sequence[Sequence[int]]) -> float:
    """Share of the token positions of ``batches`` that are padding: each column of a batch is padded to
    its longest text, as the collator pads it."""
    real = padded = 0
    for batch in batches:
        for lengths in column_lengths:
            sizes = [lengths[i] for i in batch]
            real += sum(sizes)
            padded += max(sizes) * len(sizes)
    return 1 - real / padded if padded else 0.0


@dataclass(frozen=True)
class GroupingChoice:
    """Whether a dataset's batches are length-grouped, and the padding of one epoch each way."""

    grouped: bool
    padding_random: float  # share of token positions that random batches would pad
    padding_grouped: float  # the same for length-grouped batches
    min_saving: float

    def describe(self) -> str:
        way = "length-grouped batches" if self.grouped else "random batches"
        enough = "at least" if self.grouped else "less than"
        return (f"{way}: padding {self.padding_random:.1%} of token positions in random batches, "
                f"{self.padding_grouped:.1%} grouped by length (saves {self.saving:.1%}, {enough} the "
                f"{self.min_saving:.0%} group_min_saving asks)")

    @property
    def saving(self) -> float:
        return self.padding_random - self.padding_grouped

    def to_dict(self) -> dict[str, Any]:
        return {"grouped": self.grouped, "padding_random": round(self.padding_random, 4),
                "padding_grouped": round(self.padding_grouped, 4), "min_saving": self.min_saving}


def choose_grouping(column_lengths: Sequence[Sequence[int]], batch_size: int, *, seed: int,
                    row_texts: Sequence[frozenset[str]] | None = None, min_saving: float = 0.0,
                    window_batches: int = WINDOW_BATCHES) -> GroupingChoice:
    """Group by length only if, on epoch 0's plan, it removes at least ``min_saving`` of the token positions
    random batches would pad (see the module docstring). ``min_saving`` 0 always groups."""
    lengths = row_lengths(column_lengths)
    n_rows = len(lengths)
    random_batches = plan_batches(n_rows, batch_size, seed=seed, row_texts=row_texts)
    grouped_batches = plan_batches(n_rows, batch_size, seed=seed, row_texts=row_texts, lengths=lengths,
                                   window_batches=window_batches)
    random_padding = padding_share(random_batches, column_lengths)
    grouped_padding = padding_share(grouped_batches, column_lengths)
    return GroupingChoice(random_padding - grouped_padding >= min_saving, random_padding, grouped_padding, min_saving)


class LengthGroupedBatchSampler(DefaultBatchSampler):
    """sentence-transformers batch sampler over :func:`plan_batches` (see the module docstring).

    ``batch_size`` is the per-process batch; the global batch is ``batch_size * world_size``.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        *,
        lengths: Sequence[int] | None = None,
        no_duplicates: bool = True,
        world_size: int = 1,
        window_batches: int = WINDOW_BATCHES,
        row_texts: Sequence[frozenset[str]] | None = None,
    ) -> None:
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                         valid_label_columns=valid_label_columns, generator=generator, seed=seed)
        self.n_rows = len(dataset)
        self.world_size = world_size
        self.global_batch_size = batch_size * world_size
        self.lengths = lengths
        self.window_batches = window_batches
        if no_duplicates and row_texts is None:
            row_texts = row_texts_of(dataset, valid_label_columns)
        self.row_texts = row_texts if no_duplicates else None  # row_texts: already computed by the caller
        self._planned: tuple[int, list[list[int]]] | None = None
        if world_size > 1:
            # Chunks of one global batch have equal but possibly smaller sizes than batch_size: accelerate
            # must pass every chunk through (it only holds back short batches when batch_size is set).
            self.batch_size = None  # type: ignore[assignment]

    def chunks(self) -> list[list[int]]:
        """This epoch's per-process batches in the order they are yielded (cached per epoch)."""
        if self._planned is None or self._planned[0] != self.epoch:
            batches = plan_batches(
                self.n_rows, self.global_batch_size, seed=self.seed + self.epoch, row_texts=self.row_texts,
                lengths=self.lengths, window_batches=self.window_batches, drop_last=self.drop_last,
            )
            chunks, dropped = shard(batches, self.world_size)
            if dropped:
                logger.info("epoch %d: %d pairs left out so that every process gets an equal share of each batch",
                            self.epoch, dropped)
            self._planned = (self.epoch, chunks)
        return self._planned[1]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.chunks()

    def __len__(self) -> int:
        return len(self.chunks())


@dataclass
class BatchSamplerFactory:
    """What the trainer's ``batch_sampler`` argument receives: builds a :class:`LengthGroupedBatchSampler`
    per dataset, measuring token lengths with the model's tokenizer when grouping is on."""

    tokenizer: Any
    max_seq_length: int
    group_by_length: bool = True
    no_duplicates: bool = True
    world_size: int = 1
    min_saving: float = 0.0  # group only where it removes at least this share of padded positions
    echo: Callable[[str], Any] | None = None  # where the grouping decision is said (besides the log)
    choices: list[GroupingChoice] = field(default_factory=list)  # one per dataset sampled, in order

    def __call__(self, dataset: Any, batch_size: int, drop_last: bool, valid_label_columns: list[str] | None = None,
                 generator: torch.Generator | None = None, seed: int = 0) -> LengthGroupedBatchSampler:
        # The trainer asks for drop_last under torchrun, against per-process batches of unequal size;
        # these chunks are always equal, so every short batch is kept, as with one process.
        lengths = None
        row_texts = row_texts_of(dataset, valid_label_columns) if self.no_duplicates else None
        if self.group_by_length:
            columns = column_token_lengths(dataset, self.tokenizer, self.max_seq_length, valid_label_columns)
            choice = choose_grouping(columns, batch_size * self.world_size, seed=seed, min_saving=self.min_saving,
                                     row_texts=row_texts)
            self.choices.append(choice)
            logger.info("%s", choice.describe())
            if self.echo is not None:
                self.echo(choice.describe())
            if choice.grouped:
                lengths = row_lengths(columns)
        return LengthGroupedBatchSampler(
            dataset, batch_size, False, valid_label_columns, generator, seed,
            lengths=lengths, no_duplicates=self.no_duplicates, world_size=self.world_size, row_texts=row_texts,
        )

    def __getstate__(self) -> dict[str, Any]:
        # The trainer saves its arguments (this factory among them) with each checkpoint; echo is the
        # caller's printer, often a local function, which cannot be pickled and need not be.
        return {**self.__dict__, "echo": None}

    def __repr__(self) -> str:
        return (f"LengthGroupedBatchSampler(group_by_length={self.group_by_length}, "
                f"no_duplicates={self.no_duplicates}, world_size={self.world_size})")


class MultiDatasetSampler(SetEpochMixin):
    """Batches from several datasets (one :class:`LengthGroupedBatchSampler` each), never mixed in a batch.

    ``round_robin`` takes a global batch from each dataset in turn until one runs out; ``proportional``
    takes every global batch of every dataset, in a random order fixed by ``seed + epoch``. A global
    batch's ``world_size`` chunks stay consecutive, so each process gets its part of the same batch.
    """

    def __init__(self, dataset: Any, batch_samplers: list[LengthGroupedBatchSampler], generator: Any = None,
                 seed: int = 0, *, strategy: str = "round_robin", world_size: int = 1) -> None:
        super().__init__()
        self.batch_samplers = batch_samplers
        self.offsets = [0, *accumulate(len(d) for d in dataset.datasets)][:-1]
        self.seed = seed
        self.strategy = strategy
        self.world_size = world_size
        self.batch_size = batch_samplers[0].batch_size
        self.drop_last = batch_samplers[0].drop_last

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        for sampler in self.batch_samplers:
            sampler.set_epoch(epoch)

    def _global_batches(self) -> list[list[list[list[int]]]]:
        """Per dataset: its global batches, each a list of ``world_size`` chunks of concatenated-dataset indices."""
        out = []
        for sampler, offset in zip(self.batch_samplers, self.offsets, strict=True):
            chunks = [[i + offset for i in chunk] for chunk in sampler.chunks()]
            out.append([chunks[k:k + self.world_size] for k in range(0, len(chunks), self.world_size)])
        return out

    def _order(self) -> list[list[list[int]]]:
        per_dataset = self._global_batches()
        if self.strategy == "round_robin":
            return [batch for batches in zip(*per_dataset, strict=False) for batch in batches]  # until one runs out
        flat = [batch for batches in per_dataset for batch in batches]
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return [flat[i] for i in torch.randperm(len(flat), generator=generator).tolist()]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._order():
            yield from batch

    def __len__(self) -> int:
        return sum(len(batch) for batch in self._order())


@dataclass
class MultiDatasetSamplerFactory:
    """What the trainer's ``multi_dataset_batch_sampler`` argument receives."""

    strategy: str = "round_robin"
    world_size: int = 1

    def __call__(self, dataset: Any, batch_samplers: list[LengthGroupedBatchSampler], generator: Any = None,
                 seed: int = 0) -> MultiDatasetSampler:
        return MultiDatasetSampler(dataset, batch_samplers, generator, seed, strategy=self.strategy,
                                   world_size=self.world_size)

    def __repr__(self) -> str:
        return f"MultiDatasetSampler(strategy={self.strategy!r}, world_size={self.world_size})"
