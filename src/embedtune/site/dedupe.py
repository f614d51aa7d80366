"""Merge exact and near-duplicate passages, keeping every URL they appear at.

Sites repeat themselves: the same "Contact support" section on every help page, a page reachable
at two URLs, a print version. Training on copies over-weights them and makes in-batch negatives
that are really positives. Exact copies are found by a normalized-text hash, near copies by MinHash
LSH over word 3-shingles confirmed by their exact Jaccard similarity (:mod:`embedtune.text`, the
doctor's own test); the first passage (in page order) survives and collects the URLs of the ones
merged into it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from embedtune.site.chunk import Passage
from embedtune.text import NearDuplicates, shingles, words

DEFAULT_NEAR_DUPLICATE_THRESHOLD = 0.8


@dataclass(frozen=True)
class DedupeReport:
    exact: int
    near: int

    @property
    def merged(self) -> int:
        return self.exact + self.near


def _merge(into: Passage, other: Passage) -> None:
    for url in other.urls:
        if url not in into.urls:
            into.urls.append(url)


def dedupe_passages(
    passages: list[Passage], threshold: float = DEFAULT_NEAR_DUPLICATE_THRESHOLD, seed: int = 1
) -> tuple[list[Passage], DedupeReport]:
    """Return the surviving passages (in order) and how many exact/near copies were merged.

    ``threshold`` is the Jaccard similarity of word 3-shingles from which two passages count as
    the same; ``threshold >= 1`` merges exact copies only.
    """
    kept: list[Passage] = []
    by_hash: dict[str, Passage] = {}
    exact = near = 0
    index = NearDuplicates(threshold, seed=seed) if threshold < 1 else None
    by_id: dict[str, Passage] = {}
    order: dict[str, int] = {}
    for passage in passages:
        # Text only: two help pages often share a paragraph under different headings.
        passage_words = words(passage.text)
        digest = hashlib.sha1(" ".join(passage_words).encode()).hexdigest()
        if digest in by_hash:
            _merge(by_hash[digest], passage)
            exact += 1
            continue
        if index is not None:
            passage_shingles = shingles(passage_words)
            matches = index.matches(passage_shingles)
            if matches:
                # Earliest surviving match wins, so the result does not depend on LSH bucket order.
                target = by_id[min((key for key, _ in matches), key=order.__getitem__)]
                _merge(target, passage)
                near += 1
                continue
            index.insert(passage.id, passage_shingles)
        by_hash[digest] = passage
        by_id[passage.id] = passage
        order[passage.id] = len(order)
        kept.append(passage)
    return kept, DedupeReport(exact=exact, near=near)
