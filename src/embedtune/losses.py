"""Losses beyond sentence-transformers' own: in-batch softmax with sampling-bias (logQ) correction.

With in-batch negatives, an item is a negative for other anchors about as often as it is a positive:
popular items are pushed down in proportion to their popularity, so the trained model learns
p(item | user) / p(item) and ranks popular items too low — in recommendation, where popularity is a
strong signal, it then loses to the popularity baseline it should beat. Yi et al., "Sampling-Bias-
Corrected Neural Modeling for Large Corpus Item Recommendations" (RecSys 2019) subtract log q(item)
— the item's sampling probability — from every logit before the softmax. Here q is the share of
training pairs whose positive is that item (same text = same item), passed per row as the dataset's
``label`` column (sentence-transformers hands label columns to the loss and keeps them out of the
no-duplicates check).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from sentence_transformers.util import all_gather, all_gather_with_grad, get_rank
from torch import Tensor


def log_sampling_probabilities(positives: Sequence[str]) -> list[float]:
    """log q for each row: q = (rows with the same positive text) / (all rows)."""
    counts = Counter(positives)
    total = len(positives)
    return [math.log(counts[p] / total) for p in positives]


class LogQCorrectedMNRL(MultipleNegativesRankingLoss):
    """MultipleNegativesRankingLoss (anchor → candidates direction) with logits ``scale·cos − log q``.

    ``labels`` carries log q of each row's positive. In-batch candidates get their own correction
    (centred on the batch mean, which leaves the softmax unchanged but keeps logits small); mined hard
    negatives were not sampled by popularity and get none. At inference nothing changes: the model
    simply ranks by cosine, now without the learned bias against popular items.

    ``gather_across_devices`` (several processes, torchrun): every process's positives, negatives and
    log q join the candidates, so the loss per step equals the single-process loss on the global batch.
    """

    def __init__(self, model, scale: float = 20.0, gather_across_devices: bool = False) -> None:
        super().__init__(model, scale=scale, gather_across_devices=gather_across_devices)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        if len(embeddings) < 2:
            raise ValueError(f"Expected at least 2 embeddings, got {len(embeddings)}")
        if labels is None:
            raise ValueError("LogQCorrectedMNRL needs a 'label' column with log q per row")
        anchors, columns = embeddings[0], embeddings[1:]
        batch_size = anchors.size(0)
        log_q, offset = labels, 0
        if self.gather_across_devices:
            # Candidates (with gradients) and their log q from every process; this process's anchors
            # score against all of them, as MultipleNegativesRankingLoss does with the same flag.
            columns = [all_gather_with_grad(column) for column in columns]
            log_q = all_gather(labels.to(anchors.device))
            offset = get_rank() * batch_size
        candidates = torch.cat(columns, dim=0)
        global_batch = columns[0].size(0)
        logits = self.similarity_fct(anchors, candidates) * self.scale
        log_q = log_q.to(logits.dtype).to(logits.device)
        correction = torch.zeros(candidates.size(0), dtype=logits.dtype, device=logits.device)
        correction[:global_batch] = log_q - log_q.mean()
        logits = logits - correction.unsqueeze(0)
        targets = torch.arange(offset, offset + batch_size, device=logits.device)
        return torch.nn.functional.cross_entropy(logits, targets)

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "similarity_fct": self.similarity_fct.__name__, "logq_correction": True,
                "gather_across_devices": self.gather_across_devices}

    @property
    def citation(self) -> str:
        return """
@inproceedings{yi2019sampling,
    title={Sampling-Bias-Corrected Neural Modeling for Large Corpus Item Recommendations},
    author={Yi, Xinyang and Yang, Ji and Hong, Lichan and Cheng, Derek Zhiyuan and Heldt, Lukasz and Kumthekar, Aditee and Zhao, Zhe and Wei, Li and Chi, Ed},
    booktitle={Proceedings of the 13th ACM Conference on Recommender Systems},
    pages={269--277},
    year={2019}
}
"""


def chance_loss_logq(log_q: Sequence[float], batch_size: int, *, samples: int = 256, seed: int = 0) -> float:
    """Expected :class:`LogQCorrectedMNRL` loss of a model that cannot tell candidates apart.

    With equal cosines the corrected logits are ``-log q``, so the loss is no longer ln(batch size):
    estimated here over ``samples`` random batches of the training rows (the learned-nothing check's
    reference level).
    """
    if not log_q or batch_size < 2:
        return math.log(max(batch_size, 1))
    values = torch.tensor(list(log_q), dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    size = min(batch_size, len(values))
    total = 0.0
    for _ in range(samples):
        batch = values[torch.randperm(len(values), generator=generator)[:size]]
        logits = -(batch - batch.mean())
        total += float((torch.logsumexp(logits, 0) - logits).mean())
    return total / samples
