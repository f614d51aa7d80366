"""Where a split's queries come from: real users, or embedtune's own query generators.

A score on generated queries measures how well a model matches text written from the passages it
is judged against; it is no evidence that real users' searches improve (on one public corpus a
fine-tune scored +0.32 NDCG@10 over the base model on its generated queries and −0.075 on the
corpus's real ones). Site DATA_DIRs record each split's origin in ``embedtune.json``::

    "query_origin": {"train": "generated", "dev": "generated", "test": "real"}

and evaluation reads it with :func:`split_query_origin`.
"""

from __future__ import annotations

from pathlib import Path

from embedtune.data.beir import read_manifest

GENERATED, REAL = "generated", "real"
#: Real questions below which a paired-bootstrap CI is too wide to tell small gains from noise.
MIN_REAL_QUESTIONS = 30
#: How to bring real questions: said wherever a verdict cannot be given without them.
HOW_TO_ADD_REAL_QUESTIONS = (
    f"give {MIN_REAL_QUESTIONS} or more real questions with `embedtune site build SOURCE -o DATA_DIR "
    '--questions questions.jsonl` ({"question": "...", "url": "..."} per line) or `--search-log searches.csv` '
    "(a site-search export: query + clicked URL or page id), then score with "
    "`embedtune eval --model MODEL --data DATA_DIR --split test`"
)


def split_query_origin(data_dir: str | Path, split_name: str, kind: str) -> str:
    """``"generated"`` when a split's queries were written by embedtune's query generators, else ``"real"``.

    Read from ``embedtune.json``; site DATA_DIRs built before it was recorded hold generated queries
    in every split but ``test`` (which only real questions create).
    """
    manifest = read_manifest(data_dir) if Path(data_dir).is_dir() else {}
    recorded = (manifest.get("query_origin") or {}).get(split_name)
    if recorded in (GENERATED, REAL):
        return recorded
    if kind == "site":
        return REAL if split_name == "test" else GENERATED
    return REAL
