"""Retrieval data in BEIR layout.

A DATA_DIR holds::

    corpus.jsonl            {"_id", "title", "text", ...metadata}
    queries.jsonl           {"_id", "text", ...}
    qrels/{train,dev,test}.tsv   query-id <TAB> corpus-id <TAB> score   (header row optional)
    exclude/{split}.tsv     optional: query-id <TAB> corpus-id never to rank (recommendation history)
    embedtune.json          optional manifest: {"kind": "retrieval" | "site" | "recsys", ...}

This is the format of ``../shared/data/scifact`` and of what ``site build`` and ``recsys build`` write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from embedtune.data.records import Document, RetrievalSplit
from embedtune.errors import DataError, EmbedtuneError
from embedtune.fileio import atomic_dir, check_output_dir, iter_jsonl, iter_tsv, write_json_atomic

MANIFEST = "embedtune.json"
_QRELS_HEADER = ("query-id", "corpus-id")


def _require_str_field(obj: dict[str, Any], key: str, path: Path, line: int, allow_empty: bool = False) -> str:
    if key not in obj:
        raise DataError(path, f"missing field {key!r}", line)
    value = obj[key]
    if isinstance(value, int | float) and not isinstance(value, bool) and key == "_id":
        value = str(value)
    if value is None and allow_empty:
        return ""
    if not isinstance(value, str):
        raise DataError(path, f"field {key!r} must be a string, got {type(value).__name__}", line)
    if not allow_empty and not value.strip():
        raise DataError(path, f"field {key!r} is empty", line)
    return value


def document_from_row(obj: dict[str, Any], path: Path, line: int) -> Document:
    """One corpus row (``_id``, ``title``, ``text``; other fields become metadata), checked; errors name file and line."""
    doc_id = _require_str_field(obj, "_id", path, line)
    title = _require_str_field(obj, "title", path, line, allow_empty=True) if "title" in obj else ""
    text = _require_str_field(obj, "text", path, line, allow_empty=bool(title.strip()))
    if not (title.strip() or text.strip()):
        raise DataError(path, "document has neither title nor text", line)
    metadata = {k: v for k, v in obj.items() if k not in ("_id", "title", "text")}
    return Document(id=doc_id, text=text, title=title, metadata=metadata)


def read_corpus(path: str | Path) -> dict[str, Document]:
    """Read ``corpus.jsonl``; extra fields become document metadata."""
    path = Path(path)
    corpus: dict[str, Document] = {}
    for line, obj in iter_jsonl(path):
        doc = document_from_row(obj, path, line)
        if doc.id in corpus:
            raise DataError(path, f"duplicate document id {doc.id!r}", line)
        corpus[doc.id] = doc
    if not corpus:
        raise DataError(path, "corpus is empty")
    return corpus


def read_queries(path: str | Path) -> dict[str, str]:
    path = Path(path)
    queries: dict[str, str] = {}
    for line, obj in iter_jsonl(path):
        qid = _require_str_field(obj, "_id", path, line)
        text = _require_str_field(obj, "text", path, line)
        if qid in queries:
            raise DataError(path, f"duplicate query id {qid!r}", line)
        queries[qid] = text
    return queries


def _iter_id_pairs(path: Path, n_fields: int) -> Iterable[tuple[int, list[str]]]:
    for line, fields in iter_tsv(path):
        if line == 1 and tuple(f.strip().lower() for f in fields[:2]) == _QRELS_HEADER:
            continue
        if len(fields) < n_fields:
            raise DataError(path, f"expected {n_fields} tab-separated fields, found {len(fields)}", line)
        yield line, [f.strip() for f in fields]


def read_qrels(
    path: str | Path, corpus_ids: Iterable[str] | None = None, query_ids: Iterable[str] | None = None
) -> dict[str, dict[str, int]]:
    """Read a qrels TSV; ids unknown to the corpus or the queries are errors naming the line."""
    path = Path(path)
    known_docs = set(corpus_ids) if corpus_ids is not None else None
    known_queries = set(query_ids) if query_ids is not None else None
    qrels: dict[str, dict[str, int]] = {}
    for line, fields in _iter_id_pairs(path, 3):
        qid, doc_id, score_text = fields[0], fields[1], fields[2]
        try:
            score = int(float(score_text))
        except ValueError:  # also "nan"
            raise DataError(path, f"score {score_text!r} is not a number", line) from None
        except OverflowError:  # "inf", "1e400"
            raise DataError(path, f"score {score_text!r} is not a finite number", line) from None
        if known_queries is not None and qid not in known_queries:
            raise DataError(path, f"unknown query id {qid!r} (not in queries.jsonl)", line)
        if known_docs is not None and doc_id not in known_docs:
            raise DataError(path, f"unknown corpus id {doc_id!r} (not in corpus.jsonl)", line)
        qrels.setdefault(qid, {})[doc_id] = score
    return qrels


def read_exclusions(path: str | Path) -> dict[str, set[str]]:
    excluded: dict[str, set[str]] = {}
    for _line, fields in _iter_id_pairs(Path(path), 2):
        excluded.setdefault(fields[0], set()).add(fields[1])
    return excluded


def read_manifest(data_dir: str | Path) -> dict[str, Any]:
    path = Path(data_dir) / MANIFEST
    if not path.is_file():
        return {"kind": "retrieval"}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"unreadable manifest: {exc}") from None
    if not isinstance(manifest, dict):
        raise DataError(path, "manifest must be a JSON object")
    manifest.setdefault("kind", "retrieval")
    return manifest


def is_beir_dir(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "corpus.jsonl").is_file() and (path / "qrels").is_dir()


def available_splits(data_dir: str | Path) -> list[str]:
    qrels_dir = Path(data_dir) / "qrels"
    return sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []


def load_retrieval_split(
    data_dir: str | Path, split: str, corpus: dict[str, Document] | None = None, queries: dict[str, str] | None = None
) -> RetrievalSplit:
    """Load one split of a BEIR-layout folder; ``corpus``/``queries`` may be passed to avoid re-reading."""
    data_dir = Path(data_dir)
    if not is_beir_dir(data_dir):
        raise EmbedtuneError(
            f"{data_dir} is not a BEIR-layout folder (expected corpus.jsonl, queries.jsonl and qrels/*.tsv)"
        )
    qrels_path = data_dir / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = ", ".join(available_splits(data_dir)) or "none"
        raise EmbedtuneError(f"{qrels_path} not found: {data_dir} has no {split!r} split (splits: {have})")
    corpus = corpus if corpus is not None else read_corpus(data_dir / "corpus.jsonl")
    queries = queries if queries is not None else read_queries(data_dir / "queries.jsonl")
    qrels = read_qrels(qrels_path, corpus.keys(), queries.keys())
    if not any(grade > 0 for judged in qrels.values() for grade in judged.values()):
        raise DataError(qrels_path, "no relevant (score > 0) judgments in this split")
    exclude_path = data_dir / "exclude" / f"{split}.tsv"
    exclude = read_exclusions(exclude_path) if exclude_path.is_file() else {}
    split_queries = {qid: queries[qid] for qid in qrels}
    return RetrievalSplit(
        name=split,
        corpus=corpus,
        queries=split_queries,
        qrels=qrels,
        exclude=exclude,
        kind=str(read_manifest(data_dir).get("kind", "retrieval")),
    )


def write_beir(
    out_dir: str | Path,
    corpus: Iterable[Document],
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, Mapping[str, int]]],
    manifest: Mapping[str, Any] | None = None,
    exclude: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a BEIR-layout folder atomically (it replaces ``out_dir`` whole, or nothing changes).

    An existing ``out_dir`` must be empty or an embedtune DATA_DIR unless ``overwrite``
    (:func:`embedtune.fileio.check_output_dir`). To add files of your own to the same folder, call
    :func:`write_beir_files` inside :func:`embedtune.fileio.atomic_dir` instead.
    """
    out_dir = check_output_dir(out_dir, overwrite=overwrite, producer="data_dir")
    with atomic_dir(out_dir) as tmp:
        write_beir_files(tmp, corpus, queries, qrels, manifest, exclude)
    return out_dir


def write_beir_files(
    folder: Path,
    corpus: Iterable[Document],
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, Mapping[str, int]]],
    manifest: Mapping[str, Any] | None = None,
    exclude: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
) -> None:
    """Write the BEIR files into an existing (temporary) folder. ``qrels``: split → qid → doc id → grade."""
    folder = Path(folder)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for doc in corpus:
            row = {"_id": doc.id, "title": doc.title, "text": doc.text, **doc.metadata}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for qid, text in queries.items():
            fh.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    for split, judged in qrels.items():
        with (folder / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as fh:
            fh.write("query-id\tcorpus-id\tscore\n")
            for qid, docs in judged.items():
                for doc_id, grade in docs.items():
                    fh.write(f"{qid}\t{doc_id}\t{grade}\n")
    if exclude:
        (folder / "exclude").mkdir(exist_ok=True)
        for split, per_query in exclude.items():
            with (folder / "exclude" / f"{split}.tsv").open("w", encoding="utf-8") as fh:
                fh.write("query-id\tcorpus-id\n")
                for qid, doc_ids in per_query.items():
                    for doc_id in sorted(doc_ids):
                        fh.write(f"{qid}\t{doc_id}\n")
    write_json_atomic(folder / MANIFEST, dict(manifest or {"kind": "retrieval"}))
