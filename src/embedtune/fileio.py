"""Validated readers and atomic writers shared by every pipeline stage.

Writes are atomic: a file (or a whole output folder) is written under a temporary name in the same
folder and renamed into place, so a failure never leaves a half-written result behind.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import glob
import io
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from embedtune.errors import DataError, EmbedtuneError

if TYPE_CHECKING:
    from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound="BaseModel")

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


def _iter_lines(path: str | Path, max_line_bytes: int, start: int = 0, end: int | None = None,
                first_line: int = 1) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, decoded line)``; size and encoding problems name file and line.

    ``start``/``end`` read only the lines that begin in that byte range (``start`` must be a line start,
    ``first_line`` its line number): how one shard of a large file is read without scanning the rest."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    with path.open("rb") as fh:
        fh.seek(start)
        pos = start
        for line_no, raw in enumerate(fh, start=first_line):
            if end is not None and pos >= end:
                return
            pos += len(raw)
            if len(raw) > max_line_bytes:
                raise DataError(path, f"line is {len(raw):,} bytes, over the {max_line_bytes:,}-byte limit", line_no)
            text = decode_line(raw, path, line_no).rstrip("\r\n")
            yield line_no, text.lstrip("\ufeff") if line_no == 1 else text


def iter_jsonl(path: str | Path, max_line_bytes: int = MAX_LINE_BYTES, start: int = 0, end: int | None = None,
               first_line: int = 1) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; every problem names file and line.
    ``start``, ``end``, ``first_line``: read one byte range of the file (see :func:`_iter_lines`)."""
    for line_no, text in _iter_lines(path, max_line_bytes, start, end, first_line):
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
    """Yield ``(line_number, row)`` from a CSV file with a header row (line numbers are file lines).

    Parsing is strict: a quote that is never closed used to swallow every later row into one field
    (a 4-row file read as 2 rows); it now stops at the line where the quoted field starts. A row
    with more or fewer fields than the header stops at its line too."""
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
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    while True:
        start = reader.line_num + 1  # the line this record starts on
        try:
            fields = next(reader)
        except StopIteration:
            if header is None:
                raise DataError(path, "empty file (no header row)", 1) from None
            return
        except (csv.Error, OverflowError) as exc:
            if reader.line_num > start or "unexpected end of data" in str(exc):
                raise DataError(path, f"unterminated quote (the quoted field that starts here is not closed before line "
                                      f"{reader.line_num})", start, hint="close the quote, or double a quote inside a field: \"\"") from None
            raise DataError(path, f"malformed CSV: {exc}", start) from None
        if header is None:
            header = [h.strip() for h in fields]
            if not any(header):
                raise DataError(path, "the header row is empty (the first line must name the columns)", start)
            continue
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise DataError(path, f"expected {len(header)} fields ({', '.join(header)}), found {len(fields)}", start)
        yield start, dict(zip(header, fields, strict=True))


def cache_root() -> Path:
    """Where embedtune caches derived artefacts (embeddings, mined negatives, ONNX exports).

    ``$EMBEDTUNE_CACHE`` if set, else ``~/.cache/embedtune``; every cache keys its entries by content.
    """
    return Path(os.environ.get("EMBEDTUNE_CACHE") or Path.home() / ".cache" / "embedtune")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``."""
    path = Path(path)
    if path.is_dir():
        raise EmbedtuneError(f"{path} is a folder: give a file name to write to")
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


def read_json_model(path: str | Path, model: type[ModelT], *, what: str, missing: str) -> ModelT:
    """The pydantic ``model`` stored as JSON at ``path`` (a manifest), validated.

    A missing file raises :class:`EmbedtuneError` with the message ``missing`` (say what to run to make
    one); a file that does not validate raises :class:`DataError` naming it and ``what`` it should be.
    """
    path = Path(path)
    if not path.is_file():
        raise EmbedtuneError(missing)
    try:
        return model.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(path, f"invalid {what}: {exc}") from None


# ---- output folders -------------------------------------------------------------------------------
def _has_files(*names: str) -> Callable[[Path], bool]:
    return lambda folder: all((folder / name).is_file() for name in names)


def _is_data_dir(*kinds: str) -> Callable[[Path], bool]:
    def check(folder: Path) -> bool:
        try:
            manifest = json.loads((folder / "embedtune.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(manifest, dict) and (not kinds or manifest.get("kind", "retrieval") in kinds)

    return check


def _is_shop(folder: Path) -> bool:
    return any((folder / f"log.{fmt}").is_file() and (folder / f"items.{fmt}").is_file() for fmt in ("csv", "parquet", "jsonl"))


# How each command recognises a folder it wrote before (and may therefore replace without --overwrite):
# the marker files it always writes.
OUTPUT_PRODUCERS: dict[str, tuple[str, Callable[[Path], bool]]] = {
    "train": ("an `embedtune train` run", _has_files("config.yaml", "modules.json")),
    "merge": ("an `embedtune merge` model", _has_files("merge.json", "modules.json")),
    "index": ("an embedtune index", _has_files("index.json")),
    "eval": ("an `embedtune eval` output", _has_files("eval.json")),
    "site": ("a site DATA_DIR", _is_data_dir("site")),
    "recsys": ("a recsys DATA_DIR", _is_data_dir("recsys")),
    "data_dir": ("an embedtune DATA_DIR", _is_data_dir()),
    "shop": ("an `embedtune recsys generate` output", _is_shop),
}


def check_output_dir(path: str | Path, *, overwrite: bool, producer: str) -> Path:
    """Refuse an output folder that writing ``producer``'s output into would lose something; call it
    before any work.

    Always refused: a path that is a file, the current folder or any folder above it, the home folder,
    and a repository root. Refused unless ``overwrite``: a non-empty folder that is not a previous
    output of the same command (recognised by the marker files in :data:`OUTPUT_PRODUCERS`). A missing
    folder, an empty one and a previous output are fine. Returns ``path`` as a :class:`Path`.
    """
    if producer not in OUTPUT_PRODUCERS:
        raise ValueError(f"unknown output producer {producer!r}")
    path = Path(path)
    recover_dir(path)
    what, is_previous = OUTPUT_PRODUCERS[producer]
    target = path.expanduser().resolve()
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        where = "the current folder" if target == cwd else "a folder above the current one"
        raise EmbedtuneError(f"refusing to write into {path} ({where}): writing replaces the whole folder; "
                             f"give a new folder, e.g. {path / 'out'}")
    if target == Path.home().resolve() or (target / ".git").exists():
        raise EmbedtuneError(f"refusing to write into {path}: it is your home folder or a repository root; give a new folder")
    if path.exists() and not path.is_dir():
        raise EmbedtuneError(f"{path} is a file, not a folder: give a folder to write {what} into")
    if not path.is_dir() or overwrite or is_previous(path):
        return path
    entries = sorted(p.name for p in path.iterdir())
    if entries:
        shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
        raise EmbedtuneError(f"{path} already exists, is not empty ({shown}) and is not {what}: "
                             "pass --overwrite to replace it, or give a new folder")
    return path


def dir_lock(path: str | Path):
    """The lock that serialises writers of the folder ``path`` (a ``filelock.FileLock`` on
    ``.embedtune.NAME.lock`` beside it, which stays; re-entrant in one thread, exclusive across
    threads and processes).

    ``with dir_lock(p):`` waits as long as it takes; ``dir_lock(p).acquire(timeout=s)`` gives up
    after ``s`` seconds with ``filelock.Timeout``. The folder's parent must exist.
    """
    from filelock import FileLock

    path = Path(path).absolute()
    return FileLock(path.parent / f".embedtune.{path.name}.lock", is_singleton=True)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a directory; the rename order still holds
        pass
    finally:
        os.close(fd)


def _finish_tree(root: Path) -> None:
    """Give every file and folder under ``root`` the permissions a plain ``open()``/``mkdir`` would
    (libraries that write through temporary files leave them 0600: transformers' model.safetensors),
    and flush them to disk, so a rename never publishes data that a power cut could still take back."""
    mask = _umask()
    for folder, _dirs, files in os.walk(root):
        for name in files:
            file = Path(folder) / name
            mode = file.lstat().st_mode
            if not file.is_symlink():
                os.chmod(file, ((0o777 if mode & 0o111 else 0o666) & ~mask) | (mode & 0o700))
                _fsync_path(file)
        os.chmod(folder, 0o777 & ~mask)
        _fsync_path(Path(folder))


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``). False where the
    system or filesystem cannot; the caller then falls back to two renames."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not supported here
        return False
    raise OSError(err, os.strerror(err), str(b))


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _swap_leftovers(path: Path, suffix: str) -> list[Path]:
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.*.{suffix}"), key=lambda p: p.lstat().st_mtime_ns)


def recover_dir(path: str | Path) -> bool:
    """Finish a folder swap that a kill interrupted between its two renames (see :func:`atomic_dir`):
    if ``path`` is missing and its previous version waits beside it as ``.NAME.*.old``, put it back.
    Returns True if something was restored. Cheap when there is nothing to do."""
    path = Path(path)
    if path.exists() or path.is_symlink() or not path.parent.is_dir() or not _swap_leftovers(path, "old"):
        return False
    with dir_lock(path):
        olds = _swap_leftovers(path, "old")
        if path.exists() or not olds:
            return False
        os.replace(olds[-1], path)
        _fsync_path(path.parent)
        return True


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; on success it replaces ``path`` whole.

    On any failure the temporary folder is removed and an existing ``path`` is left untouched. The
    new folder is flushed to disk and renamed ``.NAME.*.new`` (complete) before it is published, and
    the swap always leaves a complete version reachable: one atomic exchange where Linux offers it;
    elsewhere the old folder is renamed to ``.NAME.*.old`` and the new one in, and a kill between
    those two renames is undone by :func:`recover_dir` (called by embedtune's readers and writers
    before they open a folder). Swaps of one ``path`` are serialised by :func:`dir_lock`. Whether
    ``path`` may be replaced at all is the caller's decision: see :func:`check_output_dir`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        replace_dir(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def replace_dir(src: str | Path, path: str | Path) -> None:
    """Publish the complete folder ``src`` at ``path`` (same filesystem), replacing a folder there.

    ``src`` is flushed to disk and renamed ``.NAME.*.new`` (complete) before it is published, and
    the swap always leaves a complete version reachable: one atomic exchange where Linux offers it;
    elsewhere the old folder is renamed to ``.NAME.*.old`` and the new one in, and a kill between
    those two renames is undone by :func:`recover_dir`. Swaps of one ``path`` are serialised by
    :func:`dir_lock`. If publishing fails, ``src`` is put back where it was and ``path`` is untouched.
    """
    src, path = Path(src), Path(path)
    _finish_tree(src)  # mkdtemp makes a 0700 folder; libraries leave 0600 files
    with dir_lock(path):
        recover_dir(path)
        if path.exists():  # versions that earlier swaps, killed half-way, left beside it
            for leftover in _swap_leftovers(path, "old") + _swap_leftovers(path, "new"):
                _remove(leftover)
        ready = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent))
        ready.rmdir()
        os.replace(src, ready)
        try:
            if not (path.exists() or path.is_symlink()):
                os.replace(ready, path)
            elif _exchange(ready, path):
                _remove(ready)  # it holds the previous version now
            else:
                old = ready.with_suffix(".old")
                os.replace(path, old)
                try:
                    os.replace(ready, path)
                except BaseException:
                    os.replace(old, path)
                    raise
                _fsync_path(path.parent)
                _remove(old)
        except BaseException:
            if ready.exists():
                os.replace(ready, src)
            raise
        _fsync_path(path.parent)
