"""Text keys shared by the data doctor, site dedupe and the query generators' leak check.

One definition of "the same text" keeps them in agreement: a query that the site builder keeps
is never one the doctor then flags, and dedupe merges what the doctor would call near-duplicate.

* :func:`normalize`: the exact-match key (casefolded, whitespace collapsed);
* :func:`words` / :func:`shingles`: ``\\w+`` words of the casefolded text and their k-word shingles;
* :class:`NearDuplicates`: MinHash LSH (``datasketch``) over shingle sets proposes candidates, the
  exact Jaccard similarity confirms them, so no false positive comes out of the sketch.

Example::

    from embedtune.text import NearDuplicates, shingles, words
    index = NearDuplicates(threshold=0.8)
    index.insert("a", shingles(words("To export a notebook, right-click it and choose Export.")))
    index.matches(shingles(words("To export a notebook, right-click it and choose Export now.")))
    # -> [("a", 0.875)]
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasketch import MinHash

#: Words per shingle for near-duplicate and containment checks (short texts use their whole text).
SHINGLE_WORDS = 3
#: MinHash permutations for the LSH candidate search.
MINHASH_PERMUTATIONS = 128
#: LSH proposes candidates from this (lower) similarity, so pairs just above the threshold asked for
#: are found reliably; the exact Jaccard then decides.
LSH_CANDIDATE_JACCARD = 0.6

_WORD_RE = re.compile(r"\w+")


def normalize(text: str) -> str:
    """Exact-match key: casefolded, whitespace collapsed."""
    return " ".join(text.casefold().split())


def words(text: str) -> list[str]:
    """The ``\\w+`` words of the casefolded text ("il-1beta" is two words)."""
    return _WORD_RE.findall(text.casefold())


def shingles(tokens: Sequence[str], k: int = SHINGLE_WORDS) -> frozenset[str]:
    """The k-word shingles of ``tokens``; a text of at most k words is one shingle, no words none."""
    if not tokens:
        return frozenset()
    if len(tokens) <= k:
        return frozenset({" ".join(tokens)})
    return frozenset(" ".join(tokens[i : i + k]) for i in range(len(tokens) - k + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def containment(container: frozenset[str], contained: frozenset[str]) -> float:
    """The share of ``contained``'s shingles found in ``container`` (0 when it has none)."""
    return len(container & contained) / len(contained) if contained else 0.0


class NearDuplicates:
    """Shingle sets indexed for "which indexed set has Jaccard >= threshold with this one?".

    Sketches share one set of permutations (``MinHash.generator``) and hash shingles with crc32 (C,
    deterministic across processes, several times faster than datasketch's default sha1). Candidates
    come from an LSH index at ``min(threshold, LSH_CANDIDATE_JACCARD)``; :meth:`matches` returns only
    the ones whose exact Jaccard similarity reaches ``threshold``. Empty sets are never indexed or matched.
    """

    def __init__(self, threshold: float, *, num_perm: int = MINHASH_PERMUTATIONS, seed: int = 1) -> None:
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.num_perm = num_perm
        self.seed = seed
        self._lsh = MinHashLSH(threshold=min(threshold, LSH_CANDIDATE_JACCARD), num_perm=num_perm)
        self._sets: dict[Hashable, frozenset[str]] = {}

    def sketches(self, sets: Iterable[frozenset[str]]) -> Iterator[MinHash]:
        """One MinHash per set, lazily (a generator: large batches are sketched in bulk)."""
        from datasketch import MinHash

        return MinHash.generator(
            ([s.encode("utf-8") for s in shingle_set] for shingle_set in sets),
            num_perm=self.num_perm,
            seed=self.seed,
            hashfunc=zlib.crc32,
        )

    def insert(self, key: Hashable, shingle_set: frozenset[str], sketch: MinHash | None = None) -> None:
        if not shingle_set:
            return
        self._lsh.insert(key, sketch if sketch is not None else next(self.sketches([shingle_set])))
        self._sets[key] = shingle_set

    def matches(
        self, shingle_set: frozenset[str], sketch: MinHash | None = None
    ) -> list[tuple[Hashable, float]]:
        """Indexed keys whose set has exact Jaccard >= threshold with ``shingle_set``, with that similarity."""
        if not shingle_set or not self._sets:
            return []
        found = []
        for key in self._lsh.query(sketch if sketch is not None else next(self.sketches([shingle_set]))):
            similarity = jaccard(shingle_set, self._sets[key])
            if similarity >= self.threshold:
                found.append((key, similarity))
        return found


__all__ = [
    "LSH_CANDIDATE_JACCARD",
    "MINHASH_PERMUTATIONS",
    "SHINGLE_WORDS",
    "NearDuplicates",
    "containment",
    "jaccard",
    "normalize",
    "shingles",
    "words",
]
