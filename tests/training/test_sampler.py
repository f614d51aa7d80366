"""Length-grouped batches keep the no-duplicates guarantee, cover every pair once, and shard evenly."""

from __future__ import annotations

import random

import pytest
from datasets import Dataset
from hypothesis import given, settings
from hypothesis import strategies as st

from embedtune.training.sampler import (
    BatchSamplerFactory,
    LengthGroupedBatchSampler,
    choose_grouping,
    padding_share,
    plan_batches,
    row_texts_of,
    shard,
)


def _rows_with_duplicates(n: int, seed: int = 0) -> tuple[list[frozenset[str]], list[int]]:
    """Rows whose anchors repeat (a few popular queries) and whose positives repeat across anchors."""
    rng = random.Random(seed)
    texts = [frozenset({f"query {rng.randrange(n // 3 + 1)}", f"doc {rng.randrange(n // 2 + 1)}"}) for _ in range(n)]
    lengths = [rng.randrange(5, 300) for _ in range(n)]
    return texts, lengths


def _padding(batches: list[list[int]], lengths: list[int]) -> float:
    return padding_share(batches, [lengths])


def test_padding_share_pads_each_column_of_a_batch_to_its_longest_text():
    # batch [0, 1]: column 0 pads 3 to 5 (10 positions, 8 real), column 1 has no padding; batch [2]: none
    assert padding_share([[0, 1], [2]], [[3, 5, 2], [1, 1, 4]]) == pytest.approx(1 - 16 / 18)
    assert padding_share([], [[1]]) == 0.0


def test_grouping_is_chosen_only_where_it_saves_padding():
    texts, lengths = _rows_with_duplicates(600, seed=2)
    varied = choose_grouping([lengths], 16, seed=0, row_texts=texts, min_saving=0.05)
    assert varied.grouped and varied.saving >= 0.05
    assert "length-grouped batches" in varied.describe()
    # truncated texts: nearly every row is as long as the limit, so sorting saves next to nothing
    flat = [256 - (i % 40 == 0) for i in range(600)]
    skipped = choose_grouping([flat, [12] * 600], 16, seed=0, row_texts=texts, min_saving=0.05)
    assert not skipped.grouped and skipped.padding_random < 0.05
    assert skipped.describe().startswith("random batches") and skipped.to_dict()["grouped"] is False
    assert choose_grouping([flat, [12] * 600], 16, seed=0, row_texts=texts, min_saving=0.0).grouped


def _assert_valid_epoch(batches: list[list[int]], texts: list[frozenset[str]], n: int) -> None:
    assert sorted(i for b in batches for i in b) == list(range(n))  # every pair exactly once
    for batch in batches:
        seen = [t for i in batch for t in texts[i]]
        assert len(seen) == len(set(seen)), "a text appears twice in one batch"


@pytest.mark.parametrize("grouped", [False, True])
def test_every_pair_once_and_no_duplicate_text_in_a_batch(grouped):
    texts, lengths = _rows_with_duplicates(500)
    batches = plan_batches(500, 16, seed=3, row_texts=texts, lengths=lengths if grouped else None, window_batches=8)
    _assert_valid_epoch(batches, texts, 500)
    assert sum(len(b) == 16 for b in batches) >= len(batches) - 3  # conflicts shorten only a few batches


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 120), batch_size=st.integers(2, 20), distinct=st.integers(1, 60), seed=st.integers(0, 10**6),
       window=st.integers(1, 6))
def test_plan_is_a_partition_without_duplicates_for_any_data(n, batch_size, distinct, seed, window):
    rng = random.Random(seed)
    texts = [frozenset({f"a{rng.randrange(distinct)}", f"p{rng.randrange(distinct)}"}) for _ in range(n)]
    lengths = [rng.randrange(1, 50) for _ in range(n)]
    batches = plan_batches(n, batch_size, seed=seed, row_texts=texts, lengths=lengths, window_batches=window)
    _assert_valid_epoch(batches, texts, n)
    assert all(0 < len(b) <= batch_size for b in batches)


def test_grouping_cuts_padding_and_batches_are_shuffled():
    texts, lengths = _rows_with_duplicates(2048, seed=1)
    random_batches = plan_batches(2048, 32, seed=0, row_texts=texts)
    grouped = plan_batches(2048, 32, seed=0, row_texts=texts, lengths=lengths, window_batches=16)
    assert _padding(grouped, lengths) < 0.5 * _padding(random_batches, lengths)
    longest = [max(lengths[i] for i in b) for b in grouped]
    assert longest != sorted(longest, reverse=True)  # batch order is shuffled, not long-to-short


def test_plan_is_fixed_by_the_seed_and_changes_with_it():
    texts, lengths = _rows_with_duplicates(300)
    first = plan_batches(300, 10, seed=5, row_texts=texts, lengths=lengths)
    assert plan_batches(300, 10, seed=5, row_texts=texts, lengths=lengths) == first
    assert plan_batches(300, 10, seed=6, row_texts=texts, lengths=lengths) != first


def test_shard_gives_each_process_an_equal_consecutive_chunk():
    chunks, dropped = shard([[0, 1, 2, 3], [4, 5, 6], [7]], world_size=2)
    assert chunks == [[0, 1], [2, 3], [4], [5]] and dropped == 2
    assert shard([[0, 1]], world_size=1) == ([[0, 1]], 0)


def _dataset(n: int = 40) -> Dataset:
    anchors = [f"question {i % 13}" for i in range(n)]  # repeated anchors
    positives = [("long answer text " * (1 + i % 7)).strip() + f" {i}" for i in range(n)]
    return Dataset.from_dict({"anchor": anchors, "positive": positives, "label": [0.0] * n})


def test_sampler_epochs_cover_all_rows_and_differ(base_model):
    ds = _dataset()
    sampler = BatchSamplerFactory(base_model.tokenizer, 64)(ds, batch_size=4, drop_last=False,
                                                            valid_label_columns=["label"], seed=42)
    texts = row_texts_of(ds, ["label"])
    assert not any("0.0" in t for t in texts)  # the label column is not text
    epochs = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(sampler) == len(batches)
        _assert_valid_epoch(batches, texts, len(ds))
        epochs.append(batches)
    assert epochs[0] != epochs[1]


def test_factory_groups_by_length_only_past_the_saving_threshold(base_model):
    ds = _dataset()  # positives of 1 to 7 repeats of a phrase: grouping removes much padding
    said = []
    factory = BatchSamplerFactory(base_model.tokenizer, 64, min_saving=0.05, echo=said.append)
    grouped = factory(ds, batch_size=4, drop_last=False, valid_label_columns=["label"], seed=42)
    assert grouped.lengths is not None and factory.choices[0].grouped and said[0].startswith("length-grouped")
    same_length = Dataset.from_dict({"anchor": [f"question {i}" for i in range(40)],
                                     "positive": [f"answer number {i}" for i in range(40)], "label": [0.0] * 40})
    random_batches = factory(same_length, batch_size=4, drop_last=False, valid_label_columns=["label"], seed=42)
    assert random_batches.lengths is None and not factory.choices[1].grouped and said[1].startswith("random")
    off = BatchSamplerFactory(base_model.tokenizer, 64, group_by_length=False)
    assert off(ds, batch_size=4, drop_last=False, valid_label_columns=["label"], seed=42).lengths is None
    assert off.choices == []


def test_sharded_sampler_chunks_form_duplicate_free_global_batches():
    ds = _dataset(30)
    texts = row_texts_of(ds, ["label"])
    sampler = LengthGroupedBatchSampler(ds, 3, False, ["label"], seed=1, lengths=list(range(30)), world_size=2)
    chunks = list(sampler)
    assert sampler.batch_size is None  # accelerate must pass short (equal) chunks through
    assert len(chunks) % 2 == 0
    for rank0, rank1 in zip(chunks[::2], chunks[1::2], strict=True):
        assert len(rank0) == len(rank1)
        seen = [t for i in rank0 + rank1 for t in texts[i]]
        assert len(seen) == len(set(seen))


@pytest.mark.parametrize("world_size", [1, 2])
def test_multi_dataset_batches_never_mix_datasets(world_size):
    from torch.utils.data import ConcatDataset

    from embedtune.training.sampler import MultiDatasetSamplerFactory

    small, large = _dataset(12), _dataset(30)
    samplers = [LengthGroupedBatchSampler(ds, 2, False, ["label"], seed=3, lengths=list(range(len(ds))),
                                          world_size=world_size) for ds in (small, large)]
    concat = ConcatDataset([small, large])

    def dataset_of(chunk):
        return {0 if i < len(small) else 1 for i in chunk}

    for strategy in ("round_robin", "proportional"):
        sampler = MultiDatasetSamplerFactory(strategy, world_size)(concat, samplers, seed=3)
        chunks = list(sampler)
        assert len(chunks) == len(sampler) and len(chunks) % world_size == 0
        global_batches = [sum(chunks[k:k + world_size], []) for k in range(0, len(chunks), world_size)]
        assert all(len(dataset_of(batch)) == 1 for batch in global_batches)
        sources = [dataset_of(batch).pop() for batch in global_batches]
        if strategy == "round_robin":  # alternate until the small dataset runs out
            assert sources == [0, 1] * (len(sources) // 2)
        else:  # every batch of both datasets, in a shuffled order
            assert sorted(i for c in chunks for i in c) == list(range(42))
            assert sources != sorted(sources)
