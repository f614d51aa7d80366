"""After training: a loss that never left the level of random guessing [``loss_not_decreasing``]."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from embedtune.chance import chance_loss, learned_nothing, learned_nothing_threshold
from embedtune.doctor.findings import Finding, FindingCode


def check_training_loss(
    losses_per_epoch: Sequence[float], batch_size: int, *, negatives_per_pair: int = 0, chance: float | None = None,
    dev_scores: Sequence[float] = (),
) -> Finding | None:
    """Warn when the training loss never left the level of random guessing.

    MNRL is cross-entropy over the ``batch_size * (1 + negatives_per_pair)`` candidates of a batch,
    so a model that cannot tell them apart scores ln(candidates) (ln 32 = 3.47). Judged on the
    last epoch's loss (the only one when there is one epoch); returns None unless
    :func:`embedtune.chance.learned_nothing` says the loss is still near chance. ``chance`` replaces ln(candidates) for losses whose random-guessing level
    differs (the logQ-corrected loss: see :func:`embedtune.losses.chance_loss_logq`). ``dev_scores``: the
    dev metric before training, then after each epoch; a clear rise means the model learned even with a
    loss near chance (:func:`embedtune.chance.dev_rose`).
    """
    losses = [float(x) for x in losses_per_epoch]
    candidates = batch_size * (1 + negatives_per_pair)
    if not losses or candidates < 2:
        return None
    chance_label = f"ln({candidates})" if chance is None else "the logQ-corrected loss"
    chance = chance_loss(batch_size, negatives_per_pair) if chance is None else float(chance)
    threshold = learned_nothing_threshold(chance)
    last = losses[-1]
    details: dict[str, Any] = {
        "losses_per_epoch": [round(x, 4) if math.isfinite(x) else str(x) for x in losses],
        "batch_size": batch_size,
        "negatives_per_pair": negatives_per_pair,
        "chance_loss": round(chance, 4),
        "threshold": round(threshold, 4),
    }
    if not math.isfinite(last):
        return Finding(
            FindingCode.LOSS_NOT_DECREASING,
            "warning",
            f"The training loss became {last} after epoch {len(losses)}: training diverged. Lower the learning "
            "rate (e.g. 2e-5) and check the data for empty texts.",
            details,
        )
    dev_before, dev_best = (dev_scores[0], max(dev_scores[1:])) if len(dev_scores) > 1 else (None, None)
    if not learned_nothing(last, chance, dev_before, dev_best):
        return None
    if dev_before is not None:
        details["dev_before"], details["dev_best"] = round(dev_before, 4), round(dev_best, 4)
    trend = "" if len(losses) < 2 else f" (epoch 1: {losses[0]:.3f})"
    return Finding(
        FindingCode.LOSS_NOT_DECREASING,
        "warning",
        f"The training loss after epoch {len(losses)} is {last:.3f}{trend}, still >= 90% of {chance_label} = "
        f"{chance:.2f}, the loss of random guessing: the model is learning nothing. Likely causes: features that "
        "are all 'unk' or constant (run `embedtune doctor`), anchors unrelated to their positives (random "
        "labels), too few pairs, a learning rate too low or too high, or many duplicate texts.",
        details,
    )
