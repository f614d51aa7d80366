"""One "learned nothing" rule: the callback, the doctor finding and the card all apply it."""

from __future__ import annotations

import math

from embedtune.chance import LEARNED_NOTHING_SHARE, chance_loss, learned_nothing, learned_nothing_threshold
from embedtune.doctor import check_training_loss


def test_rule_at_the_threshold_and_for_diverged_losses():
    chance = chance_loss(32)
    assert chance == math.log(32) and chance_loss(32, 1) == math.log(64)
    threshold = learned_nothing_threshold(chance)
    assert threshold == LEARNED_NOTHING_SHARE * chance
    assert learned_nothing(threshold, chance) and not learned_nothing(threshold - 1e-6, chance)
    assert learned_nothing(float("nan"), chance) and learned_nothing(float("inf"), chance)


def test_doctor_finding_agrees_with_the_rule():
    chance = chance_loss(8)
    for last in (0.5, learned_nothing_threshold(chance) - 1e-3, learned_nothing_threshold(chance), chance):
        finding = check_training_loss([3.0, last], 8)
        assert (finding is not None) == learned_nothing(last, chance)
    custom = check_training_loss([1.9], 8, chance=2.0)  # the logQ-corrected level replaces ln(8)
    assert custom is not None and custom.details["threshold"] == round(learned_nothing_threshold(2.0), 4)
