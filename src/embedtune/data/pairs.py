"""Training pairs: JSONL, CSV or Parquet with ``anchor``, ``positive`` and optional negatives.

Accepted columns (first match wins):

========== =========================================================
anchor     ``anchor``, ``query``, ``sentence_0`` (the seeds' name)
positive   ``positive``, ``sentence_1``; in JSONL also a list of positives
negatives  ``negative``, ``negative_1`` … ``negative_n``, ``sentence_2`` …
========== =========================================================

An anchor with several positives becomes one row per positive.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from embedtune.data.beir import is_beir_dir, load_retrieval_split, read_corpus, read_queries
from embedtune.data.records import Pair
from embedtune.errors import DataError, EmbedtuneError
from embedtune.fileio import MAX_LINE_BYTES, iter_csv, iter_jsonl, write_jsonl_atomic

ANCHOR_COLUMNS = ("anchor", "query", "sentence_0")
POSITIVE_COLUMNS = ("positive", "sentence_1")
_NEGATIVE_RE = re.compile(r"^(negative(_\d+)?|sentence_([2-9]|\d{2,}))$")
PAIR_SUFFIXES = (".jsonl", ".csv", ".parquet")


def _pick(columns: Iterable[str], names: tuple[str, ...]) -> str | None:
    present = set(columns)
    return next((name for name in names if name in present), None)


def _negative_columns(columns: Iterable[str]) -> list[str]:
    def order(name: str) -> int:
        digits = re.findall(r"\d+", name)
        return int(digits[-1]) if digits else 0

    return sorted((c for c in columns if _NEGATIVE_RE.match(c)), key=order)


def _text(value: Any, column: str, path: Path, line: int) -> str:
    if not isinstance(value, str):
        raise DataError(path, f"column {column!r} must be text, got {type(value).__name__}", line)
    if not value.strip():
        raise DataError(path, f"column {column!r} is empty", line)
    if len(value.encode("utf-8")) > MAX_LINE_BYTES:
        raise DataError(path, f"column {column!r} is over {MAX_LINE_BYTES:,} bytes", line)
    return value


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from iter_jsonl(path)
    elif suffix == ".csv":
        yield from iter_csv(path)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises many types for a corrupt file
            raise DataError(path, f"unreadable Parquet file: {exc}") from None
        # Parquet has no lines; the row number (1-based) stands in for one.
        yield from enumerate(table.to_pylist(), start=1)
    else:
        raise DataError(path, f"unsupported pairs format {suffix!r} (use .jsonl, .csv or .parquet)")


def read_pairs(path: str | Path) -> list[Pair]:
    """Read and validate a pairs file; any problem raises :class:`DataError` naming file and line."""
    path = Path(path)
    pairs: list[Pair] = []
    columns_checked = False
    anchor_col = positive_col = None
    negative_cols: list[str] = []
    for line, row in _rows(path):
        if not columns_checked:
            anchor_col = _pick(row, ANCHOR_COLUMNS)
            positive_col = _pick(row, POSITIVE_COLUMNS)
            if anchor_col is None or positive_col is None:
                missing = "anchor" if anchor_col is None else "positive"
                raise DataError(
                    path, f"missing column {missing!r} (found: {', '.join(row) or 'none'})", line,
                    hint="columns are anchor, positive, optional negative/negative_1..n; sentence_0/sentence_1 also work",
                )
            negative_cols = _negative_columns(row)
            columns_checked = path.suffix.lower() != ".jsonl"  # JSONL rows may differ line to line
        for col in (anchor_col, positive_col):
            if col not in row:
                raise DataError(path, f"missing column {col!r}", line)
        anchor = _text(row[anchor_col], anchor_col, path, line)
        negatives = tuple(
            _text(row[col], col, path, line) for col in negative_cols if col in row and row[col] not in (None, "")
        )
        positives = row[positive_col]
        if isinstance(positives, list) and path.suffix.lower() != ".csv":
            if not positives:
                raise DataError(path, f"column {positive_col!r} is an empty list", line)
            for pos in positives:
                pairs.append(Pair(anchor, _text(pos, positive_col, path, line), negatives))
        else:
            pairs.append(Pair(anchor, _text(positives, positive_col, path, line), negatives))
    if not pairs:
        raise DataError(path, "no training pairs in file")
    n_neg = {len(p.negatives) for p in pairs}
    if len(n_neg) > 1:
        raise DataError(path, f"rows have different numbers of negatives ({sorted(n_neg)}); give every row the same")
    return pairs


def pairs_from_split(
    data_dir: str | Path, split: str = "train", corpus: dict | None = None, queries: dict[str, str] | None = None
) -> list[Pair]:
    """Turn a BEIR split's relevant (query, document) judgments into training pairs.

    ``corpus``/``queries`` may be passed when the caller has read them already.
    """
    data_dir = Path(data_dir)
    corpus = corpus if corpus is not None else read_corpus(data_dir / "corpus.jsonl")
    queries = queries if queries is not None else read_queries(data_dir / "queries.jsonl")
    ret = load_retrieval_split(data_dir, split, corpus=corpus, queries=queries)
    pairs = [
        Pair(ret.queries[qid], corpus[doc_id].full_text)
        for qid in ret.query_ids
        for doc_id in sorted(ret.relevant(qid))
    ]
    if not pairs:
        raise DataError(data_dir / "qrels" / f"{split}.tsv", "no relevant judgments to train on")
    return pairs


def beir_training_pairs(
    data_dir: str | Path, corpus: dict | None = None, queries: dict[str, str] | None = None
) -> list[Pair]:
    """A BEIR folder's training pairs: its own ``pairs.jsonl`` when it ships one, else its train qrels.

    ``embedtune site build`` writes ``pairs.jsonl`` beside the qrels because some generated positives
    are not the corpus text (the cloze and title generators cut the query out of its passage); the
    qrels alone would pair a sentence with the passage that contains it.
    """
    data_dir = Path(data_dir)
    if (data_dir / "pairs.jsonl").is_file():
        return read_pairs(data_dir / "pairs.jsonl")
    if not (data_dir / "qrels" / "train.tsv").is_file():
        raise EmbedtuneError(f"{data_dir} has no qrels/train.tsv to train on")
    return pairs_from_split(data_dir, "train", corpus=corpus, queries=queries)


def load_training_pairs(data: str | Path) -> list[Pair]:
    """Pairs from a pairs file, or from a BEIR folder (see :func:`beir_training_pairs`)."""
    data = Path(data)
    if data.is_file():
        return read_pairs(data)
    if is_beir_dir(data):
        return beir_training_pairs(data)
    if data.is_dir():
        for name in ("pairs.jsonl", "pairs.csv", "pairs.parquet"):
            if (data / name).is_file():
                return read_pairs(data / name)
    if not data.exists():
        raise EmbedtuneError(f"{data}: no such file or folder")
    raise EmbedtuneError(f"{data}: expected a pairs file ({', '.join(PAIR_SUFFIXES)}) or a BEIR-layout folder")


def write_pairs(path: str | Path, pairs: Iterable[Pair]) -> None:
    """Write pairs as JSONL (``anchor``, ``positive``, ``negative_1..n``), atomically."""

    def rows() -> Iterator[dict[str, str]]:
        for pair in pairs:
            row = {"anchor": pair.anchor, "positive": pair.positive}
            row.update({f"negative_{i}": neg for i, neg in enumerate(pair.negatives, start=1)})
            yield row

    write_jsonl_atomic(path, rows())


def pairs_to_json(pairs: Iterable[Pair]) -> str:
    return "".join(json.dumps({"anchor": p.anchor, "positive": p.positive}, ensure_ascii=False) + "\n" for p in pairs)
