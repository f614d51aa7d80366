"""Chance level of in-batch contrastive losses and the one "learned nothing" rule.

MultipleNegativesRankingLoss is cross-entropy over the candidates of a batch (every positive, plus
any hard negatives), so a model that cannot tell candidates apart scores ln(candidates) (ln 32 = 3.47).
A training loss still at >= ``LEARNED_NOTHING_SHARE`` of that level means the model is learning
nothing — unless the held-out dev score says otherwise: the logQ-corrected loss on recommendation data
can stay above 90% of its chance level while the model learns (MovieLens-100K, 20 positions per user,
one epoch: loss 4.22 vs chance 4.68, yet dev NDCG@10 0.0064 → 0.0267). So a dev score that at least
doubled over the score before training, by at least ``DEV_RISE_MIN``, counts as learning; random
clicks do not (the seed scenario: base 0.0047, tuned 0.0065 test NDCG@10). The training callback, the run's
result, the data doctor's ``loss_not_decreasing`` finding and the model card all apply this rule
through :func:`learned_nothing`.
"""

from __future__ import annotations

import math

# A loss at or above this share of the chance level counts as "learned nothing".
LEARNED_NOTHING_SHARE = 0.9
# ... unless the dev score rose at least this many times over, and by at least DEV_RISE_MIN.
DEV_RISE_FACTOR = 2.0
DEV_RISE_MIN = 0.01


def chance_loss(batch_size: int, n_negatives: int = 0) -> float:
    """MNRL loss of a model that cannot tell candidates apart: ln(number of candidates per anchor)."""
    return math.log(batch_size * (1 + n_negatives))


def learned_nothing_threshold(chance: float) -> float:
    """The loss at and above which a model counts as having learned nothing."""
    return LEARNED_NOTHING_SHARE * chance


def dev_rose(before: float | None, best: float | None) -> bool:
    """True when the best dev score after training clearly beat the score before it (see the module)."""
    if before is None or best is None or not (math.isfinite(before) and math.isfinite(best)):
        return False
    return best >= DEV_RISE_FACTOR * before and best - before >= DEV_RISE_MIN


def learned_nothing(loss: float, chance: float, dev_before: float | None = None, dev_best: float | None = None) -> bool:
    """True when ``loss`` (an epoch's mean training loss) is still near the chance level ``chance`` and
    the dev score (``dev_before`` → ``dev_best``, when known) did not clearly rise.

    A loss that is not finite (diverged training) counts as learned nothing too.
    """
    if not math.isfinite(loss):
        return True
    return loss >= learned_nothing_threshold(chance) and not dev_rose(dev_before, dev_best)
