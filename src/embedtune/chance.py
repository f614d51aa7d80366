"""Chance level of in-batch contrastive losses and the one "learned nothing" rule.

MultipleNegativesRankingLoss is cross-entropy over the candidates of a batch (every positive, plus
any hard negatives), so a model that cannot tell candidates apart scores ln(candidates) (ln 32 = 3.47).
A training loss still at >= ``LEARNED_NOTHING_SHARE`` of that level means the model is learning
nothing. The training callback, the run's result, the data doctor's ``loss_not_decreasing`` finding
and the model card all apply this rule through :func:`learned_nothing`.
"""

from __future__ import annotations

import math

# A loss at or above this share of the chance level counts as "learned nothing".
LEARNED_NOTHING_SHARE = 0.9


def chance_loss(batch_size: int, n_negatives: int = 0) -> float:
    """MNRL loss of a model that cannot tell candidates apart: ln(number of candidates per anchor)."""
    return math.log(batch_size * (1 + n_negatives))


def learned_nothing_threshold(chance: float) -> float:
    """The loss at and above which a model counts as having learned nothing."""
    return LEARNED_NOTHING_SHARE * chance


def learned_nothing(loss: float, chance: float) -> bool:
    """True when ``loss`` (an epoch's mean training loss) is still near the chance level ``chance``.

    A loss that is not finite (diverged training) counts as learned nothing too.
    """
    return not math.isfinite(loss) or loss >= learned_nothing_threshold(chance)
