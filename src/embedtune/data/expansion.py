"""Lexical expansion: each document together with the real training queries that judge it relevant.

Where new queries look for the documents earlier queries found (recurring questions, a site-search log, a
benchmark whose claims cite the same abstracts), BM25 over a document plus those queries matches a new query
worded like an earlier one — document expansion by known queries (doc2query with real queries instead of
generated ones). Where held-out queries need documents no training query judged, the expanded documents pull
queries away from the rest. So it is never on by itself: evaluation chooses it on a dev split of real queries
(:func:`embedtune.eval.hybrid.hybrid_fusions`; measured in docs/benchmarks.md, "(1h)"), records the choice in
``fusion.json`` and an index built for that model indexes the same texts (:mod:`embedtune.index.lexical`).

Only real training queries expand: generated ones were written from their passage and add its own words.

Example::

    from embedtune.data.expansion import training_expansions
    expansions = training_expansions("data/scifact")     # {"4983": ["claim one ...", "claim two ..."], ...}
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from embedtune.data.beir import read_manifest, read_qrels, read_queries
from embedtune.data.kinds import data_kind
from embedtune.data.origin import GENERATED, split_query_origin

TRAIN_SPLIT = "train"


def training_expansions(data_dir: str | Path, doc_ids: Iterable[str] | None = None) -> dict[str, list[str]]:
    """``{document id: its training queries}`` (in ``qrels/train.tsv`` order) for the documents of ``doc_ids``
    (default: every judged one). Empty when the DATA_DIR has no train split, its kind has no lexical part
    (recommendation) or its training queries are generated."""
    data_dir = Path(data_dir)
    qrels_path = data_dir / "qrels" / f"{TRAIN_SPLIT}.tsv"
    kind = str(read_manifest(data_dir).get("kind", "retrieval"))
    if ("bm25" not in data_kind(kind).baselines or not qrels_path.is_file()
            or split_query_origin(data_dir, TRAIN_SPLIT, kind) == GENERATED):
        return {}
    queries = read_queries(data_dir / "queries.jsonl")
    wanted = set(doc_ids) if doc_ids is not None else None
    expansions: dict[str, list[str]] = {}
    for qid, judged in read_qrels(qrels_path, query_ids=queries.keys()).items():
        for doc_id, grade in judged.items():
            if grade > 0 and (wanted is None or doc_id in wanted):
                expansions.setdefault(doc_id, []).append(queries[qid])
    return expansions
