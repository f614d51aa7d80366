"""Queries that contain their positive nearly verbatim, or positives that contain a long query
verbatim [``query_contains_positive``]; in eval splits, queries that contain their relevant document
(e.g. a user profile built from the very interactions being predicted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from embedtune.data.records import Pair, RetrievalSplit
from embedtune.doctor.findings import MAX_EXAMPLES, ROW_SHARE_WARN, Finding, FindingCode, clip, percent
from embedtune.text import SHINGLE_WORDS, containment, shingles, words

#: A text "contains" another when this share of the other's word shingles occur in it.
CONTAINMENT_THRESHOLD = 0.8
#: A positive containing the query only counts for queries of at least this many words
#: (a two-word keyword query found in its passage is normal search, not a copy).
MIN_COPIED_QUERY_WORDS = 8


def check_containment(pairs: Sequence[Pair]) -> list[Finding]:
    hits: list[dict[str, Any]] = []
    n_pos_in_query = n_query_in_pos = 0
    for i, pair in enumerate(pairs):
        q_words, p_words = words(pair.anchor), words(pair.positive)
        q_sh, p_sh = shingles(q_words), shingles(p_words)
        pos_in_query = containment(q_sh, p_sh)
        query_in_pos = containment(p_sh, q_sh) if len(q_words) >= MIN_COPIED_QUERY_WORDS else 0.0
        if pos_in_query >= CONTAINMENT_THRESHOLD:
            n_pos_in_query += 1
            direction, copied = "anchor contains positive", pos_in_query
        elif query_in_pos >= CONTAINMENT_THRESHOLD:
            n_query_in_pos += 1
            direction, copied = "positive contains anchor", query_in_pos
        else:
            continue
        hits.append(
            {
                "row": i,
                "anchor": clip(pair.anchor),
                "positive": clip(pair.positive),
                "direction": direction,
                "containment": round(copied, 3),
            }
        )
    if not hits:
        return []
    n = len(pairs)
    share = len(hits) / n
    return [
        Finding(
            FindingCode.QUERY_CONTAINS_POSITIVE,
            "warning" if share >= ROW_SHARE_WARN else "info",
            f"{len(hits):,} of {n:,} training pairs ({percent(share)}) copy one side into the other: {n_pos_in_query:,} anchors "
            f"contain their positive and {n_query_in_pos:,} positives contain their anchor (>= "
            f"{percent(CONTAINMENT_THRESHOLD)} of {SHINGLE_WORDS}-word shingles). The model learns to match copied words, "
            "not meaning. Rewrite these anchors as real questions (e.g. drop 'Summarize: <passage>' templates).",
            {
                "n_rows": n,
                "n_hits": len(hits),
                "share": round(share, 4),
                "n_anchor_contains_positive": n_pos_in_query,
                "n_positive_contains_anchor": n_query_in_pos,
                "examples": hits[:MAX_EXAMPLES],
            },
        )
    ]


def check_eval_containment(split: RetrievalSplit) -> list[Finding]:
    """Eval queries that already contain a relevant document (its text, or its title of >= 2 words)."""
    hits: list[dict[str, Any]] = []
    qids = split.query_ids
    for qid in qids:
        query = split.queries[qid]
        q_words = words(query)
        q_sh = shingles(q_words)
        q_joined = f" {' '.join(q_words)} "
        for doc_id in sorted(split.relevant(qid)):
            doc = split.corpus.get(doc_id)
            if doc is None:
                continue
            title_words = words(doc.title)
            by_title = len(title_words) >= 2 and f" {' '.join(title_words)} " in q_joined
            by_text = containment(q_sh, shingles(words(doc.full_text))) >= CONTAINMENT_THRESHOLD
            if by_title or by_text:
                hits.append(
                    {
                        "query_id": qid,
                        "doc_id": doc_id,
                        "query": clip(query),
                        "document": clip(doc.full_text),
                        "match": "title" if by_title else "text",
                    }
                )
                break
    if not hits:
        return []
    share = len(hits) / len(qids)
    return [
        Finding(
            FindingCode.QUERY_CONTAINS_POSITIVE,
            "warning" if share >= ROW_SHARE_WARN else "info",
            f"{len(hits):,} of {len(qids):,} {split.name} queries ({percent(share)}) already contain their relevant "
            "document's title or text: the evaluation rewards copying. In recommendation data this means the "
            "profile was built from the interactions being predicted; build eval profiles from history before "
            "the held-out interaction only.",
            {
                "split": split.name,
                "n_queries": len(qids),
                "n_hits": len(hits),
                "share": round(share, 4),
                "examples": hits[:MAX_EXAMPLES],
            },
        )
    ]
