"""Eval text that is also training text [``eval_overlap_exact``, ``eval_overlap_near``].

Eval queries vs training anchors and relevant eval documents vs training positives, exact after
normalization (casefold, collapsed whitespace) and near-duplicate (:class:`embedtune.text.NearDuplicates`:
MinHash LSH over word shingles, confirmed with the exact Jaccard similarity).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from embedtune.data.records import Pair, RetrievalSplit
from embedtune.doctor.findings import MAX_EXAMPLES, Finding, FindingCode, clip, percent, ratio
from embedtune.text import NearDuplicates, normalize, shingles, words

#: Eval queries found verbatim among training anchors are an error (training stops unless forced)
#: from this share on; below it (SciFact: 2 of 300 test claims are also train claims) a warning,
#: since so few queries move the mean metric less than its bootstrap confidence interval.
EVAL_OVERLAP_ERROR_SHARE = 0.01
#: Near-duplicate: Jaccard similarity of word shingles at or above this.
NEAR_DUPLICATE_JACCARD = 0.8


def _minhash_near_matches(
    targets: Sequence[frozenset[str]], others: Sequence[frozenset[str]], threshold: float
) -> dict[int, tuple[int, float]]:
    """For each target shingle set, its most similar set in ``others`` with Jaccard >= ``threshold``.

    The targets (the eval side, usually the smaller) are indexed and every other set probes the index.
    """
    found: dict[int, tuple[int, float]] = {}
    if not any(targets) or not any(others):
        return found
    index = NearDuplicates(threshold)
    for i, (shingle_set, sketch) in enumerate(zip(targets, index.sketches(targets), strict=True)):
        index.insert(i, shingle_set, sketch)
    for j, (shingle_set, sketch) in enumerate(zip(others, index.sketches(others), strict=True)):
        for i, similarity in index.matches(shingle_set, sketch):
            if i not in found or similarity > found[i][1]:
                found[i] = (j, similarity)
    return found


def _overlap(
    train_texts: Iterable[str], eval_texts: Sequence[str]
) -> tuple[list[int], list[tuple[int, str, float]]]:
    """Eval texts found in training: indices of exact matches, and (index, training text, Jaccard) of near ones."""
    train_by_key: dict[str, str] = {}
    for text in train_texts:
        train_by_key.setdefault(normalize(text), text)
    exact = [j for j, text in enumerate(eval_texts) if normalize(text) in train_by_key]
    exact_set = set(exact)
    rest = [j for j in range(len(eval_texts)) if j not in exact_set]
    train_list = list(train_by_key.values())
    near_raw = _minhash_near_matches(
        [shingles(words(eval_texts[j])) for j in rest],
        [shingles(words(t)) for t in train_list],
        NEAR_DUPLICATE_JACCARD,
    )
    near = [(rest[k], train_list[j], jaccard) for k, (j, jaccard) in sorted(near_raw.items())]
    return exact, near


def check_eval_overlap(pairs: Sequence[Pair], split: RetrievalSplit) -> list[Finding]:
    findings: list[Finding] = []
    qids = split.query_ids
    queries = [split.queries[q] for q in qids]
    doc_ids = sorted({d for q in qids for d in split.relevant(q) if d in split.corpus})
    docs = [split.corpus[d].full_text for d in doc_ids]
    trained_pairs = {(normalize(p.anchor), normalize(p.positive)) for p in pairs}
    name = split.name

    exact, near = _overlap((p.anchor for p in pairs), queries)
    if exact:
        leaked = sum(
            1
            for j in exact
            if any(
                (normalize(queries[j]), normalize(split.corpus[d].full_text)) in trained_pairs
                for d in split.relevant(qids[j])
            )
        )
        findings.append(
            Finding(
                FindingCode.EVAL_OVERLAP_EXACT,
                "error" if len(exact) >= EVAL_OVERLAP_ERROR_SHARE * len(queries) else "warning",
                f"{len(exact):,} of {len(queries):,} {name} queries ({percent(len(exact) / len(queries))}) are also "
                f"training anchors ({leaked:,} of them with the same relevant document): on them the {name} score "
                f"measures memorization, not retrieval. Remove these queries from the training data (or from the "
                f"{name} split).",
                {
                    "split": name,
                    "side": "queries",
                    "n_overlap": len(exact),
                    "n_eval": len(queries),
                    "share": ratio(len(exact), len(queries)),
                    "n_same_pair": leaked,
                    "examples": [
                        {"query_id": qids[j], "text": clip(queries[j])} for j in exact[:MAX_EXAMPLES]
                    ],
                },
            )
        )
    if near:
        findings.append(
            Finding(
                FindingCode.EVAL_OVERLAP_NEAR,
                "warning",
                f"{len(near):,} of {len(queries):,} {name} queries ({percent(len(near) / len(queries))}) are near-duplicates "
                f"(word-shingle Jaccard >= {NEAR_DUPLICATE_JACCARD}) of training anchors: the {name} score is "
                "optimistic for them. Deduplicate training against the eval split.",
                {
                    "split": name,
                    "side": "queries",
                    "n_overlap": len(near),
                    "n_eval": len(queries),
                    "share": ratio(len(near), len(queries)),
                    "examples": [
                        {
                            "query_id": qids[j],
                            "text": clip(queries[j]),
                            "training": clip(t),
                            "jaccard": round(jac, 3),
                        }
                        for j, t, jac in near[:MAX_EXAMPLES]
                    ],
                },
            )
        )

    exact, near = _overlap((p.positive for p in pairs), docs)
    # In recommendation the catalog is closed: recommending items seen in training is the task itself.
    doc_severity = "info" if split.kind == "recsys" else "warning"
    for kind, hits in (("exact", [(j, None, 1.0) for j in exact]), ("near", near)):
        if not hits:
            continue
        how = (
            "identical to" if kind == "exact" else f"near-duplicates (Jaccard >= {NEAR_DUPLICATE_JACCARD}) of"
        )
        findings.append(
            Finding(
                FindingCode(f"eval_overlap_{kind}"),
                doc_severity,
                f"{len(hits):,} of {len(docs):,} relevant {name} documents ({percent(len(hits) / len(docs))}) are {how} "
                f"training positives: the model was trained to retrieve them, so {name} scores on the queries that need "
                "them may be optimistic. Expected when train and eval share one corpus; to measure generalization, "
                "compare the metrics on queries whose documents were never trained on.",
                {
                    "split": name,
                    "side": "documents",
                    "n_overlap": len(hits),
                    "n_eval": len(docs),
                    "share": ratio(len(hits), len(docs)),
                    "examples": [
                        {"doc_id": doc_ids[j], "text": clip(docs[j])}
                        | ({"training": clip(t), "jaccard": round(jac, 3)} if t is not None else {})
                        for j, t, jac in hits[:MAX_EXAMPLES]
                    ],
                },
            )
        )
    return findings
