"""Validated readers and atomic writers shared by every pipeline stage.

Writes are atomic: a file (or a whole output folder) is written under a temporary name in the same
folder and renamed into place, so a failure never leaves a half-written result behind.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from embedtune.errors import DataError

# A single record larger than this is almost certainly a mistake (a whole site in one field, a
# binary blob); refusing it early keeps memory bounded and the message clear.
MAX_LINE_BYTES = 8 * 1024 * 1024


def decode_line(raw: bytes, path: Path, line_no: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            path, f"not valid UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})", line_no,
            hint="re-save the file as UTF-8",
        ) from None


def _iter_lines(path: str | Path, max_line_bytes: int) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, decoded line)``; size and encoding problems name file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if len(raw) > max_line_bytes:
                raise DataError(path, f"line is {len(raw):,} bytes, over the {max_line_bytes:,}-byte limit", line_no)
            text = decode_line(raw, path, line_no).rstrip("\r\n")
            yield line_no, text.lstrip("\ufeff") if line_no == 1 else text


def iter_jsonl(path: str | Path, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; every problem names file and line."""
    for line_no, text in _iter_lines(path, max_line_bytes):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"malformed JSON ({exc.msg} at column {exc.colno})", line_no) from None
        if not isinstance(obj, dict):
            raise DataError(path, f"expected a JSON object, got {type(obj).__name__}", line_no)
        yield line_no, obj


def iter_tsv(path: str | Path, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` for each non-blank tab-separated line."""
    for line_no, text in _iter_lines(path, max_line_bytes):
        if text.strip():
            yield line_no, text.split("\t")


def iter_csv(path: str | Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, row)`` from a CSV file with a header row (line numbers are file lines)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_no = raw[: exc.start].count(b"\n") + 1
        raise DataError(path, f"not valid UTF-8 (byte {exc.start})", line_no, hint="re-save the file as UTF-8") from None
    csv.field_size_limit(MAX_LINE_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(path, "empty file (no header row)", 1) from None
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV: {exc}", 1) from None
    header = [h.strip() for h in header]
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except (csv.Error, OverflowError) as exc:
            raise DataError(path, f"malformed CSV: {exc}", reader.line_num) from None
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise DataError(path, f"expected {len(header)} fields ({', '.join(header)}), found {len(fields)}", reader.line_num)
        yield reader.line_num, dict(zip(header, fields, strict=True))


def cache_root() -> Path:
    """Where embedtune caches derived artefacts (embeddings, mined negatives, ONNX exports).

    ``$EMBEDTUNE_CACHE`` if set, else ``~/.cache/embedtune``; every cache keys its entries by content.
    """
    return Path(os.environ.get("EMBEDTUNE_CACHE") or Path.home() / ".cache" / "embedtune")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def write_jsonl_atomic(path: str | Path, rows: Any) -> None:
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; on success it replaces ``path`` whole.

    On any failure the temporary folder is removed and an existing ``path`` is left untouched.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        from embedtune.errors import EmbedtuneError

        raise EmbedtuneError(f"{path} already exists (pass --overwrite to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(src: str | Path, path: str | Path) -> None:
    """Move the complete folder ``src`` to ``path`` (same filesystem), replacing a folder there.

    An existing ``path`` is renamed aside, ``src`` renamed in, and the old one removed; if the second
    rename fails the old folder is put back.
    """
    src, path = Path(src), Path(path)
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
        old.rmdir()
        os.replace(path, old)
        try:
            os.replace(src, path)
        except BaseException:
            os.replace(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, path)
