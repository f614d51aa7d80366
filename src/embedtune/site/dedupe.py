"""Merge exact and near-duplicate passages, keeping every URL they appear at.

Sites repeat themselves: the same "Contact support" section on every help page, a page reachable
at two URLs, a print version. Training on copies over-weights them and makes in-batch negatives
that are really positives. Exact copies are found by a normalized-text hash, near copies by MinHash
LSH over word 3-shingles (datasketch); the first passage (in page order) survives and collects the
URLs of the ones merged into it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from embedtune.site.chunk import Passage

DEFAULT_NEAR_DUPLICATE_THRESHOLD = 0.8
_NUM_PERM = 128
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class DedupeReport:
    exact: int
    near: int

    @property
    def merged(self) -> int:
        return self.exact + self.near


def _normalized_words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _shingles(words: list[str], n: int = 3) -> set[bytes]:
    if len(words) < n:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)}


def _merge(into: Passage, other: Passage) -> None:
    for url in other.urls:
        if url not in into.urls:
            into.urls.append(url)


def dedupe_passages(
    passages: list[Passage], threshold: float = DEFAULT_NEAR_DUPLICATE_THRESHOLD, seed: int = 1
) -> tuple[list[Passage], DedupeReport]:
    """Return the surviving passages (in order) and how many exact/near copies were merged.

    ``threshold`` is the estimated Jaccard similarity of word 3-shingles above which two passages
    count as the same; ``threshold >= 1`` merges exact copies only.
    """
    from datasketch import MinHash, MinHashLSH

    kept: list[Passage] = []
    by_hash: dict[str, Passage] = {}
    exact = near = 0
    lsh = MinHashLSH(threshold=threshold, num_perm=_NUM_PERM) if threshold < 1 else None
    by_id: dict[str, Passage] = {}
    order: dict[str, int] = {}
    for passage in passages:
        # Text only: two help pages often share a paragraph under different headings.
        words = _normalized_words(passage.text)
        digest = hashlib.sha1(" ".join(words).encode()).hexdigest()
        if digest in by_hash:
            _merge(by_hash[digest], passage)
            exact += 1
            continue
        if lsh is not None:
            minhash = MinHash(num_perm=_NUM_PERM, seed=seed)
            minhash.update_batch(list(_shingles(words)))
            matches = lsh.query(minhash)
            if matches:
                # Earliest surviving match wins, so the result does not depend on LSH bucket order.
                target = by_id[min(matches, key=order.__getitem__)]
                _merge(target, passage)
                near += 1
                continue
            lsh.insert(passage.id, minhash)
        by_hash[digest] = passage
        by_id[passage.id] = passage
        order[passage.id] = len(order)
        kept.append(passage)
    return kept, DedupeReport(exact=exact, near=near)
