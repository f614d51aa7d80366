"""Repeated anchors, positives and rows [``duplicate_anchors``, ``duplicate_positives``,
``duplicate_pairs``] and corpus documents that share one text [``duplicate_documents``].

With MNRL every other positive in a batch is a negative, so a repeated text inside one batch is a
false negative. embedtune trains with sentence-transformers' ``NoDuplicatesBatchSampler``, which
never puts one text twice in a batch, but a text in more rows than there are batches cannot be
placed: batches shrink.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from embedtune.data.records import Pair, RetrievalSplit
from embedtune.doctor.findings import MAX_EXAMPLES, Finding, FindingCode, clip, percent, ratio
from embedtune.text import normalize

#: Warn about repeated anchors/positives when a randomly drawn batch would hold at least this many
#: colliding (same-text) pairs, or when a text is in more rows than an epoch has batches.
DUPLICATE_COLLISIONS_WARN = 1.0


def _expected_collisions(group_sizes: Iterable[int], n_rows: int, batch_size: int) -> float:
    """Expected number of same-text row pairs inside one batch of ``batch_size`` rows drawn at random."""
    if n_rows < 2:
        return 0.0
    b = min(batch_size, n_rows)
    p_both = b * (b - 1) / (n_rows * (n_rows - 1))
    return sum(c * (c - 1) / 2 for c in group_sizes) * p_both


def check_duplicates(pairs: Sequence[Pair], batch_size: int) -> list[Finding]:
    n = len(pairs)
    n_batches = max(1, n // batch_size)
    findings: list[Finding] = []
    rows = Counter((normalize(p.anchor), normalize(p.positive)) for p in pairs)
    # normalized text -> its first spelling, so examples show the user's own text
    original: dict[str, str] = {}
    for p in pairs:
        original.setdefault(normalize(p.anchor), p.anchor)
        original.setdefault(normalize(p.positive), p.positive)
    repeated_rows = n - len(rows)
    if repeated_rows:
        examples = [
            {"anchor": clip(original[a]), "positive": clip(original[p]), "rows": c}
            for (a, p), c in rows.most_common(MAX_EXAMPLES)
            if c > 1
        ]
        findings.append(
            Finding(
                FindingCode.DUPLICATE_PAIRS,
                "warning",
                f"{repeated_rows:,} of {n:,} rows ({percent(repeated_rows / n)}) repeat an earlier (anchor, positive) pair: "
                "they count those examples several times and cannot share a batch. Remove the repeats.",
                {"n_repeated_rows": repeated_rows, "share": ratio(repeated_rows, n), "examples": examples},
            )
        )
    for column, texts in (("anchor", [p.anchor for p in pairs]), ("positive", [p.positive for p in pairs])):
        counts = Counter(normalize(t) for t in texts)
        repeats = n - len(counts)
        if not repeats:
            continue
        collisions = _expected_collisions(counts.values(), n, batch_size)
        top_text, top_count = counts.most_common(1)[0]
        # A text in more rows than there are batches cannot go once into each batch: the no-duplicates
        # sampler then yields smaller batches (fewer in-batch negatives) or re-draws rows.
        unplaceable = sum(max(0, c - n_batches) for c in counts.values())
        severe = collisions >= DUPLICATE_COLLISIONS_WARN or unplaceable > 0
        others = "anchor" if column == "positive" else "positive"
        message = (
            f"{repeats:,} of {n:,} {column}s ({percent(repeats / n)}) repeat an earlier {column} "
            f"({len(counts):,} distinct; the most frequent is in {top_count:,} rows). With MNRL a repeated {column} "
            f"in one batch is a false negative: a random batch of {batch_size} would hold {collisions:.2f} such "
            f"collisions on average. embedtune's no-duplicates batch sampler keeps them apart"
        )
        if unplaceable:
            message += (
                f", but {unplaceable:,} rows repeat a text more often than the {n_batches:,} batches per epoch "
                f"allow, so batches shrink or rows are re-drawn. Drop or merge the most repeated {column}s."
            )
        elif severe:
            message += "; so many repeats still leave fewer distinct negatives per batch."
        else:
            message += f" (normal when one {column} has several {others}s)."
        findings.append(
            Finding(
                FindingCode(f"duplicate_{column}s"),
                "warning" if severe else "info",
                message,
                {
                    "n_repeated_rows": repeats,
                    "share": ratio(repeats, n),
                    "n_distinct": len(counts),
                    "max_rows_per_text": top_count,
                    "expected_collisions_per_random_batch": round(collisions, 3),
                    "batches_per_epoch": n_batches,
                    "rows_beyond_batches": unplaceable,
                    "examples": [
                        {"text": clip(original[t]), "rows": c}
                        for t, c in counts.most_common(MAX_EXAMPLES)
                        if c > 1
                    ],
                    "most_frequent": clip(original[top_text]),
                },
            )
        )
    return findings


def check_corpus_duplicates(splits: Sequence[RetrievalSplit]) -> list[Finding]:
    """Distinct document ids with the same text: a correct answer's twin is scored as a miss."""
    seen_corpora: set[int] = set()
    findings: list[Finding] = []
    for split in splits:
        if id(split.corpus) in seen_corpora:
            continue
        seen_corpora.add(id(split.corpus))
        by_text: dict[str, list[str]] = {}
        for doc in split.corpus.values():
            by_text.setdefault(normalize(doc.full_text), []).append(doc.id)
        groups = [ids for ids in by_text.values() if len(ids) > 1]
        if not groups:
            continue
        n_dup = sum(len(ids) - 1 for ids in groups)
        n = len(split.corpus)
        findings.append(
            Finding(
                FindingCode.DUPLICATE_DOCUMENTS,
                "warning",
                f"{n_dup:,} of {n:,} corpus documents ({percent(n_dup / n)}) repeat the text of another document under a "
                "different id: when the copy ranks above the judged one it counts as a miss, and in training it is a "
                "false negative. Deduplicate the corpus (keep one id per text) before building splits.",
                {
                    "n_duplicate_documents": n_dup,
                    "n_groups": len(groups),
                    "n_corpus": n,
                    "examples": [
                        {"doc_ids": ids[:MAX_EXAMPLES], "text": clip(split.corpus[ids[0]].full_text)}
                        for ids in sorted(groups, key=len, reverse=True)[:MAX_EXAMPLES]
                    ],
                },
            )
        )
    return findings
