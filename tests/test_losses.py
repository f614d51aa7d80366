"""The logQ-corrected in-batch loss against hand-computed values and stock MNRL."""

from __future__ import annotations

import math

import pytest
import torch

from embedtune.losses import LogQCorrectedMNRL, chance_loss_logq, log_sampling_probabilities


class _NoModel(torch.nn.Module):
    """The loss only needs a module to hold; compute_loss_from_embeddings never calls it."""


def _loss():
    return LogQCorrectedMNRL(_NoModel(), scale=20.0)


def test_log_sampling_probabilities_count_positive_texts():
    log_q = log_sampling_probabilities(["a", "b", "a", "c"])
    assert log_q == pytest.approx([math.log(0.5), math.log(0.25), math.log(0.5), math.log(0.25)])


def test_uniform_q_equals_stock_mnrl():
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    torch.manual_seed(0)
    anchors, positives = torch.randn(5, 8), torch.randn(5, 8)
    labels = torch.full((5,), math.log(0.2))
    ours = _loss().compute_loss_from_embeddings([anchors, positives], labels)
    stock = MultipleNegativesRankingLoss(_NoModel(), scale=20.0).compute_loss_from_embeddings([anchors, positives], None)
    assert float(ours) == pytest.approx(float(stock), rel=1e-5)


def test_correction_matches_hand_computation():
    # Equal-ish cosines: the rare item's corrected logit is higher, so the popular positive's row
    # costs more and training must raise popular items' cosine (learning p(item|user), not PMI).
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positives = torch.tensor([[0.8, 0.6], [0.6, 0.8]])
    log_q = torch.tensor([math.log(0.75), math.log(0.25)])
    cos = [[0.8, 0.6], [0.6, 0.8]]
    centred = [float(v - log_q.mean()) for v in log_q]
    expected = 0.0
    for i in range(2):
        logits = [20 * cos[i][j] - centred[j] for j in range(2)]
        expected += -(logits[i] - math.log(sum(math.exp(v) for v in logits)))
    got = _loss().compute_loss_from_embeddings([anchors, positives], log_q)
    assert float(got) == pytest.approx(expected / 2, abs=1e-6)


def test_hard_negative_columns_get_no_correction():
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positives = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    negatives = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    same_q = torch.tensor([math.log(0.5), math.log(0.5)])
    with_neg = _loss().compute_loss_from_embeddings([anchors, positives, negatives], same_q)
    logits = torch.tensor([[20.0, 0.0, 0.0, 20.0], [0.0, 20.0, 20.0, 0.0]])
    expected = torch.nn.functional.cross_entropy(logits, torch.arange(2))
    assert float(with_neg) == pytest.approx(float(expected), rel=1e-5)


def test_chance_level_is_ln_batch_for_uniform_q_and_differs_otherwise():
    assert chance_loss_logq([math.log(0.01)] * 100, 8) == pytest.approx(math.log(8), rel=1e-6)
    skewed = [math.log(0.5)] * 50 + [math.log(0.01)] * 50
    assert chance_loss_logq(skewed, 8) != pytest.approx(math.log(8), rel=1e-3)


def test_config_rejects_logq_with_cached_loss():
    from embedtune.config import load_train_config
    from embedtune.errors import EmbedtuneError

    with pytest.raises(EmbedtuneError, match="logq_correction"):
        load_train_config(None, logq_correction="on", mini_batch_size=4, batch_size=8)


def test_gather_flag_without_a_process_group_is_the_single_process_loss():
    torch.manual_seed(1)
    anchors, positives, negatives = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)
    labels = torch.log(torch.tensor([0.5, 0.25, 0.125, 0.125]))
    plain = _loss().compute_loss_from_embeddings([anchors, positives, negatives], labels)
    gathered = LogQCorrectedMNRL(_NoModel(), scale=20.0, gather_across_devices=True)
    assert float(gathered.compute_loss_from_embeddings([anchors, positives, negatives], labels)) == float(plain)
    assert gathered.get_config_dict()["gather_across_devices"] is True
