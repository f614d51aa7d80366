"""Real questions from a site-search log: what visitors typed, and the page they opened from the results.

A search log export (from the site's own search box, an analytics tool or a help-centre product)
holds one search per row: the query and the page clicked from its results, as a URL or a page id.
Each distinct query (compared case- and space-insensitively) becomes one real question of the test
split (or, with ``real_train_fraction`` / ``real_dev_fraction``, of train, dev or test: :mod:`embedtune.site.split`);
every page clicked for it is relevant. Searches without a click judge nothing and are
skipped (and counted). Accepted files:

- CSV (``.csv``) or TSV (``.tsv``/``.tab``) with a header row, or JSONL (``.jsonl``/``.json``);
- the query in a column named one of :data:`QUERY_COLUMNS`, the click in one of
  :data:`TARGET_COLUMNS` (a URL, matched by path like ``--questions`` urls, or a page id: the id of a
  ``corpus.jsonl`` document, which stays the prefix of its passages' ids).

Example (``searches.csv``)::

    query,clicked_url
    export notes to markdown,https://docs.example.com/export
    sync stuck,/docs/sync#offline-devices
    sync stuck,/docs/sync

    embedtune site build public/ -o data/site --search-log searches.csv
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from embedtune.errors import DataError
from embedtune.fileio import iter_csv, iter_jsonl, iter_tsv
from embedtune.site.queries import normalize_query
from embedtune.site.split import RealQuestion

#: Column names read as the query, first match wins (case-insensitive).
QUERY_COLUMNS = ("query", "search_query", "search_term", "search", "term", "keyword", "q", "question")
#: Column names read as the clicked page, first match wins (case-insensitive).
TARGET_COLUMNS = ("clicked_url", "click_url", "clicked", "url", "page_url", "page", "page_id", "doc_id",
                  "document_id")


@dataclass(frozen=True)
class SearchLogStats:
    """What a search log held: rows read, searches without a click, and distinct queries kept."""

    rows: int
    without_click: int
    queries: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rows(path: Path):
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        yield from iter_jsonl(path)
    elif suffix in (".tsv", ".tab"):
        header: list[str] | None = None
        for line, fields in iter_tsv(path):
            if header is None:
                header = [h.strip() for h in fields]
                continue
            yield line, dict(zip(header, fields, strict=False))
    else:
        yield from iter_csv(path)


def _column(row: dict[str, Any], names: tuple[str, ...]) -> str | None:
    lowered = {str(k).strip().lower(): k for k in row}
    return next((lowered[n] for n in names if n in lowered), None)


def read_search_log(path: str | Path) -> tuple[list[RealQuestion], SearchLogStats]:
    """Distinct queries with their clicked pages, as real questions; bad input names file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "search log not found")
    clicks: dict[str, tuple[str, int, list[str]]] = {}  # normalized query -> (text, first line, targets)
    rows = without_click = 0
    query_key = target_key = None
    for line, row in _rows(path):
        if query_key is None:
            query_key, target_key = _column(row, QUERY_COLUMNS), _column(row, TARGET_COLUMNS)
            if query_key is None or target_key is None:
                raise DataError(
                    path, f"no {'query' if query_key is None else 'clicked page'} column in {sorted(row)}", line,
                    hint=f"name the query column one of {', '.join(QUERY_COLUMNS)} and the clicked URL or "
                    f"page id one of {', '.join(TARGET_COLUMNS)}",
                )
        rows += 1
        query, target = row.get(query_key), row.get(target_key)
        if (query is not None and not isinstance(query, str)) or (
            target is not None and not isinstance(target, str | int)
        ):
            raise DataError(path, f"{query_key!r} and {target_key!r} must be text", line)
        query, target = (query or "").strip(), str(target if target is not None else "").strip()
        if not query:
            raise DataError(path, f"empty {query_key!r}", line)
        if not target:
            without_click += 1
            continue
        key = normalize_query(query) or query.casefold()
        text, first, targets = clicks.setdefault(key, (query, line, []))
        if target not in targets:
            targets.append(target)
    if not clicks:
        raise DataError(path, f"no search with a clicked page ({rows} rows, {without_click} without a click)")
    questions = [RealQuestion(text, targets[0], line=first, more_urls=tuple(targets[1:]), source="search-log")
                 for text, first, targets in clicks.values()]
    return questions, SearchLogStats(rows=rows, without_click=without_click, queries=len(questions))
