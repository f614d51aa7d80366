"""Too few pairs for in-batch negatives [``too_few_pairs``]."""

from __future__ import annotations

from collections.abc import Sequence

from embedtune.data.records import Pair
from embedtune.doctor.findings import Finding, FindingCode

#: Fewer than this many batches per epoch: the run is mostly noise.
MIN_BATCHES = 2


def check_size(pairs: Sequence[Pair], batch_size: int) -> list[Finding]:
    n = len(pairs)
    if n >= MIN_BATCHES * batch_size:
        return []
    return [
        Finding(
            FindingCode.TOO_FEW_PAIRS,
            "warning",
            f"Only {n:,} training pairs for batch size {batch_size}: fewer than {MIN_BATCHES} batches per epoch, "
            f"so each anchor sees at most {max(n - 1, 0)} in-batch negatives and the loss curve is noise. "
            f"Add pairs (at least {MIN_BATCHES * batch_size:,}; hundreds are better) or lower --batch-size.",
            {"n_pairs": n, "batch_size": batch_size, "min_pairs": MIN_BATCHES * batch_size},
        )
    ]
