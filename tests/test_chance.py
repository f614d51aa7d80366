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


def test_a_clear_dev_rise_is_learning_even_with_a_loss_near_chance():
    chance = 4.68  # the logQ-corrected level of a MovieLens run
    loss = 4.22  # 91% of chance: near it by the loss alone
    assert learned_nothing(loss, chance)
    assert not learned_nothing(loss, chance, dev_before=0.0064, dev_best=0.0267)  # MovieLens, one epoch
    assert learned_nothing(loss, chance, dev_before=0.0047, dev_best=0.0065)  # random clicks: no clear rise
    assert learned_nothing(loss, chance, dev_before=0.0, dev_best=0.004)  # doubled from 0, but by too little
    assert learned_nothing(float("nan"), chance, dev_before=0.01, dev_best=0.5)  # diverged stays diverged
    assert not learned_nothing(1.0, chance, dev_before=0.5, dev_best=0.4)  # a low loss needs no dev rise
    rose = check_training_loss([4.30, 4.22], 64, chance=chance, dev_scores=[0.0064, 0.0267])
    flat = check_training_loss([4.30, 4.22], 64, chance=chance, dev_scores=[0.0047, 0.0050, 0.0065])
    assert rose is None and flat is not None and flat.details["dev_best"] == 0.0065
