"""After training: a loss still at the level of random guessing."""

from __future__ import annotations

import json
import math

import pytest

from embedtune.doctor import (
    check_training_loss,
)


def test_loss_near_chance_is_a_warning():
    finding = check_training_loss([3.45, 3.44], batch_size=32)
    assert finding is not None and finding.code == "loss_not_decreasing" and finding.severity == "warning"
    assert "learning nothing" in finding.message and "unk" in finding.message
    assert finding.details["chance_loss"] == pytest.approx(math.log(32), abs=1e-3)


def test_loss_that_drops_is_fine():
    assert check_training_loss([2.1, 0.8], batch_size=32) is None


def test_single_epoch_is_judged_on_its_value():
    assert check_training_loss([3.2], batch_size=32) is not None  # 3.2 >= 0.9 * 3.47
    assert check_training_loss([3.0], batch_size=32) is None
    assert check_training_loss([], batch_size=32) is None


def test_hard_negatives_raise_the_chance_level_and_nan_is_divergence():
    # 32 anchors x (1 positive + 1 negative) = 64 candidates: ln 64 = 4.16, so 3.5 is below 0.9 * 4.16.
    assert check_training_loss([3.5], batch_size=32) is not None
    assert check_training_loss([3.5], batch_size=32, negatives_per_pair=1) is None
    diverged = check_training_loss([2.0, float("nan")], batch_size=32)
    assert diverged is not None and "diverged" in diverged.message
    json.dumps(diverged.details)
