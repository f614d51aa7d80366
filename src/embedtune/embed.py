"""Batch embedding of a large corpus into Parquet shards, in this process or on a Ray cluster.

The input is a BEIR ``corpus.jsonl`` (``_id``, ``title``, ``text``, other fields = metadata), a Parquet
file with the same columns (``id`` is accepted for ``_id``), or many such files: a folder or a glob.
The input is cut into shards of ``shard_rows`` documents (byte ranges of a JSONL file, row ranges of
a Parquet file); each shard is read, embedded and written as one Parquet file, atomically (temporary
name, then rename). A rerun skips the shards whose file is already there, so an interrupted run --
or a preempted Ray worker -- costs at most the shards that were in flight.

``engine="local"`` embeds the shards one after another with one encoder. ``engine="ray"`` turns the
pending shards into a Ray Dataset and runs ``map_batches`` over an actor pool: each actor loads the
model once (any backend of :func:`embedtune.encoders.load_encoder`) and then reads, embeds and writes
whole shards. Both engines run the same :func:`embed_shard`, so they write the same vectors. On a
cluster, the input, the model folder and the output folder must be paths every node can read (a
shared file system), and embedtune must be installed on every node.

Output folder::

    embeddings.json         manifest: model, backend, dim, inputs (size, mtime) and the shard list
    part-00000.parquet ...  id, title, text, metadata (JSON text), vector (list<float32>[dim], unit length)

``embedtune index build --from-embeddings OUT_DIR`` (:func:`build_index_from_embeddings`) and
``embedtune index push OUT_DIR --to postgresql://...`` read these files without re-encoding.

Example::

    from embedtune.embed import embed_corpus
    result = embed_corpus("all-MiniLM-L6-v2", "data/corpus.jsonl", "runs/embeddings", engine="ray")
    print(result.embedded, "shards embedded,", result.skipped, "already done")
"""

from __future__ import annotations

import glob
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from embedtune.data.beir import document_from_row, read_manifest
from embedtune.data.records import Document
from embedtune.errors import DataError, EmbedtuneError
from embedtune.fileio import atomic_path, iter_jsonl, read_json_model, write_text_atomic

log = logging.getLogger(__name__)

MANIFEST_FILE = "embeddings.json"
FORMAT = "embedtune-embeddings"
FORMAT_VERSION = 1
DEFAULT_SHARD_ROWS = 10_000
ENGINES: tuple[str, ...] = ("local", "ray")
RAY_INSTALL_HINT = "pip install 'embedtune[ray]'  (or: pip install 'ray[data]')"
_SUFFIXES = {".jsonl": "jsonl", ".parquet": "parquet"}


class InputInfo(BaseModel):
    """One input file as it was when the shards were planned (a changed file invalidates the plan)."""

    path: str
    format: Literal["jsonl", "parquet"]
    size: int
    mtime_ns: int
    rows: int


class ShardInfo(BaseModel):
    """A slice of one input file: bytes ``[start, end)`` of a JSONL file, rows ``[start, end)`` of a Parquet file."""

    name: str
    input: str
    format: Literal["jsonl", "parquet"]
    start: int
    end: int
    first_line: int
    rows: int
    done: bool = False


class EmbeddingsManifest(BaseModel):
    """``embeddings.json``: what was embedded, with which model and backend, and which shards are done."""

    model_config = ConfigDict(protected_namespaces=())

    format: str = FORMAT
    version: int = FORMAT_VERSION
    model: str
    backend: str
    requested_backend: str
    dim: int | None = None
    batch_size: int
    shard_rows: int
    kind: str = "retrieval"
    data_dir: str | None = None
    agreement: dict[str, Any] | None = None
    inputs: list[InputInfo]
    shards: list[ShardInfo]
    created_at: str
    updated_at: str

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)

    @property
    def pending(self) -> list[ShardInfo]:
        return [s for s in self.shards if not s.done]


@dataclass
class EmbedResult:
    manifest: EmbeddingsManifest
    output: Path
    embedded: int  # shards embedded by this run
    skipped: int  # shards already done by an earlier run
    documents: int  # documents embedded by this run
    seconds: float

    @property
    def docs_per_second(self) -> float:
        return self.documents / self.seconds if self.seconds > 0 else 0.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---- inputs and the shard plan -----------------------------------------------------------------------
def resolve_inputs(corpus: str | Path) -> tuple[list[Path], Path | None]:
    """The input files of ``corpus`` and, when it is a DATA_DIR, that folder.

    ``corpus`` is a ``.jsonl`` or ``.parquet`` file; a DATA_DIR (its ``corpus.jsonl``); a folder of
    ``.jsonl``/``.parquet`` shards; or a glob such as ``'data/part-*.parquet'``."""
    text = str(corpus)
    path = Path(corpus)
    if any(ch in text for ch in "*?["):
        files = [Path(p) for p in sorted(glob.glob(text))]
        where = text
    elif path.is_dir():
        if (path / "corpus.jsonl").is_file():
            return [path / "corpus.jsonl"], path
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in _SUFFIXES)
        where = f"{path}/*.jsonl|*.parquet"
    elif path.is_file():
        files = [path]
        where = text
    else:
        raise DataError(path, "not found (give a corpus.jsonl, a .parquet file, a folder of them or a glob)")
    files = [f for f in files if f.is_file()]
    if not files:
        raise EmbedtuneError(f"{where}: no .jsonl or .parquet input files")
    for f in files:
        if f.suffix not in _SUFFIXES:
            raise DataError(f, f"unsupported input format {f.suffix!r} (expected .jsonl or .parquet)")
    data_dir = path.parent if path.is_file() and (path.parent / "embedtune.json").is_file() else None
    return files, data_dir


def _plan_jsonl(path: Path, shard_rows: int, first_index: int) -> tuple[int, list[ShardInfo]]:
    """Cut a JSONL file into byte ranges of ``shard_rows`` non-blank lines (one pass, no JSON parsing)."""
    shards: list[ShardInfo] = []
    pos = line_no = count = shard_start = 0
    shard_first = 1
    total = 0

    def emit(end: int) -> None:
        name = f"part-{first_index + len(shards):05d}.parquet"
        shards.append(ShardInfo(name=name, input=str(path), format="jsonl", start=shard_start, end=end,
                                first_line=shard_first, rows=count))

    with path.open("rb") as fh:
        for raw in fh:
            line_no += 1
            if raw.strip():
                if count == shard_rows:
                    emit(pos)
                    shard_start, shard_first, count = pos, line_no, 0
                count += 1
                total += 1
            pos += len(raw)
    if count:
        emit(pos)
    return total, shards


def _plan_parquet(path: Path, shard_rows: int, first_index: int) -> tuple[int, list[ShardInfo]]:
    import pyarrow.parquet as pq

    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise DataError(path, f"not a readable Parquet file: {exc}") from None
    shards = [
        ShardInfo(name=f"part-{first_index + i:05d}.parquet", input=str(path), format="parquet", start=lo,
                  end=min(lo + shard_rows, rows), first_line=lo + 1, rows=min(lo + shard_rows, rows) - lo)
        for i, lo in enumerate(range(0, rows, shard_rows))
    ]
    return rows, shards


def plan_shards(files: list[Path], shard_rows: int = DEFAULT_SHARD_ROWS) -> tuple[list[InputInfo], list[ShardInfo]]:
    """Describe the inputs and cut them into shards of at most ``shard_rows`` documents."""
    if shard_rows < 1:
        raise EmbedtuneError(f"--shard-rows must be at least 1, got {shard_rows}")
    inputs: list[InputInfo] = []
    shards: list[ShardInfo] = []
    for f in files:
        fmt = _SUFFIXES[f.suffix]
        stat = f.stat()
        planner = _plan_jsonl if fmt == "jsonl" else _plan_parquet
        rows, file_shards = planner(f.resolve(), shard_rows, len(shards))
        inputs.append(InputInfo(path=str(f.resolve()), format=fmt, size=stat.st_size, mtime_ns=stat.st_mtime_ns, rows=rows))
        shards.extend(file_shards)
    if not shards:
        raise EmbedtuneError(f"the input holds no documents ({', '.join(str(f) for f in files)})")
    return inputs, shards


def read_shard(shard: ShardInfo) -> list[Document]:
    """The documents of one shard, checked like ``corpus.jsonl`` rows; errors name the file and line (row)."""
    path = Path(shard.input)
    docs: list[Document] = []
    if shard.format == "jsonl":
        for line, obj in iter_jsonl(path, start=shard.start, end=shard.end, first_line=shard.first_line):
            docs.append(document_from_row(obj, path, line))
    else:
        for row, obj in enumerate(_parquet_rows(path, shard.start, shard.end), start=shard.start + 1):
            if "_id" not in obj and "id" in obj:
                obj["_id"] = obj.pop("id")
            docs.append(document_from_row(obj, path, row))
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise DataError(path, f"duplicate document id {doc.id!r} (in the shard {shard.name} reads)")
        seen.add(doc.id)
    if len(docs) != shard.rows:
        raise DataError(path, f"{shard.name} expected {shard.rows} documents here and found {len(docs)}: "
                              "the file changed since the shards were planned (rerun with --overwrite)")
    return docs


def _parquet_rows(path: Path, start: int, end: int) -> list[dict[str, Any]]:
    """Rows ``[start, end)`` of a Parquet file, reading only the row groups that hold them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    groups, first, offset = [], None, 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if offset + n > start and offset < end:
            groups.append(g)
            first = offset if first is None else first
        offset += n
    if not groups:
        return []
    table = pa.concat_tables([pf.read_row_group(g) for g in groups]).slice(start - (first or 0), end - start)
    return table.to_pylist()


# ---- one shard: read, embed, write ---------------------------------------------------------------------
def shard_schema(dim: int):
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("title", pa.string()), ("text", pa.string()),
                      ("metadata", pa.string()), ("vector", pa.list_(pa.float32(), dim))])


def write_shard(path: Path, docs: list[Document], vectors: np.ndarray) -> None:
    """Write one shard's Parquet file atomically (a reader or a rerun never sees half of it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = int(vectors.shape[1])
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    table = pa.Table.from_arrays(
        [pa.array([d.id for d in docs], pa.string()), pa.array([d.title for d in docs], pa.string()),
         pa.array([d.text for d in docs], pa.string()),
         pa.array([json.dumps(d.metadata, ensure_ascii=False) for d in docs], pa.string()),
         pa.FixedSizeListArray.from_arrays(flat, dim)],
        schema=shard_schema(dim),
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def embed_shard(encoder: Any, shard: ShardInfo, out_dir: Path, batch_size: int) -> int:
    """Read, embed and write one shard; returns the vector dimension. Both engines call this."""
    docs = read_shard(shard)
    vectors = encoder.encode([d.full_text for d in docs], batch_size=batch_size)
    write_shard(out_dir / shard.name, docs, vectors)
    return int(vectors.shape[1])


def shard_is_written(out_dir: Path, shard: ShardInfo) -> bool:
    """A shard is done when its file is there with the planned row count (files appear only whole)."""
    import pyarrow.parquet as pq

    path = out_dir / shard.name
    if not path.is_file():
        return False
    try:
        return pq.ParquetFile(path).metadata.num_rows == shard.rows
    except Exception:  # unreadable: embed it again
        return False


def read_shard_file(path: Path) -> tuple[list[Document], np.ndarray]:
    """Documents and vectors of one written shard."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    column = table.column("vector").combine_chunks()
    dim = column.type.list_size
    vectors = column.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, dim)
    docs = [Document(id=i, title=t or "", text=x or "", metadata=json.loads(m) if m else {})
            for i, t, x, m in zip(table.column("id").to_pylist(), table.column("title").to_pylist(),
                                  table.column("text").to_pylist(), table.column("metadata").to_pylist(), strict=True)]
    return docs, vectors


# ---- the manifest --------------------------------------------------------------------------------------
def save_manifest(out_dir: Path, manifest: EmbeddingsManifest) -> None:
    manifest.updated_at = _now()
    write_text_atomic(out_dir / MANIFEST_FILE, manifest.model_dump_json(indent=2) + "\n")


def load_manifest(out_dir: str | Path) -> EmbeddingsManifest:
    path = Path(out_dir) / MANIFEST_FILE
    manifest = read_json_model(
        path, EmbeddingsManifest, what="embeddings manifest",
        missing=f"{out_dir} holds no embeddings ({MANIFEST_FILE} missing); write them with `embedtune embed`",
    )
    if manifest.format != FORMAT or manifest.version > FORMAT_VERSION:
        raise DataError(path, f"not an embedtune embeddings manifest of version <= {FORMAT_VERSION}")
    return manifest


def _check_resumable(old: EmbeddingsManifest, model: str, backend: str, shard_rows: int, files: list[Path], out: Path) -> None:
    problems = []
    if old.model != model:
        problems.append(f"model {old.model} (now {model})")
    if old.requested_backend != backend:
        problems.append(f"backend {old.requested_backend} (now {backend})")
    if old.shard_rows != shard_rows:
        problems.append(f"--shard-rows {old.shard_rows} (now {shard_rows})")
    now = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    then = [(i.path, i.size, i.mtime_ns) for i in old.inputs]
    if now != then:
        problems.append("the input files (their list, sizes or modification times changed)")
    if problems:
        raise EmbedtuneError(f"{out} holds embeddings made with other settings: {'; '.join(problems)}. "
                             "Give a new --output, or --overwrite to start again")


def _clear_output(out: Path) -> None:
    for f in out.glob("part-*.parquet"):
        f.unlink()
    (out / MANIFEST_FILE).unlink(missing_ok=True)


# ---- the run -------------------------------------------------------------------------------------------
def embed_corpus(model: str | Path, corpus: str | Path, output: str | Path, engine: str = "local",
                 backend: str = "torch", ray_address: str | None = None, workers: int | None = None,
                 threads: int | None = None, batch_size: int = 32, shard_rows: int = DEFAULT_SHARD_ROWS,
                 overwrite: bool = False, show_progress: bool = True) -> EmbedResult:
    """Embed every shard of ``corpus`` not yet in ``output``; see the module docstring.

    ``workers`` (ray): actors in the pool, default one per ``threads`` CPUs of the cluster.
    ``threads``: encoder threads per worker (ray default 1; local default all cores)."""
    from embedtune.encoders import BACKENDS, load_encoder, sample_texts
    from embedtune.index import model_reference

    if engine not in ENGINES:
        raise EmbedtuneError(f"unknown --engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if backend not in BACKENDS:
        raise EmbedtuneError(f"unknown --backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if engine == "ray":
        _import_ray()  # fail before any planning work when Ray is missing
    out = Path(output)
    files, data_dir = resolve_inputs(corpus)
    model_ref = model_reference(model)
    encoder = None
    if (out / MANIFEST_FILE).is_file() and not overwrite:
        manifest = load_manifest(out)
        _check_resumable(manifest, model_ref, backend, shard_rows, files, out)
    else:
        if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST_FILE).is_file() and not overwrite:
            raise EmbedtuneError(f"{out} exists and is not an embeddings folder; give a new --output (or --overwrite)")
        if overwrite and out.is_dir():
            _clear_output(out)
        inputs, shards = plan_shards(files, shard_rows)
        backend_used, agreement = backend, None
        if engine == "local" or backend != "torch":
            # Non-torch backends are checked against torch once, here, on the first shard's texts; a
            # failed check falls back to torch for every worker and the manifest says so.
            sample = sample_texts([d.full_text for d in read_shard(shards[0])]) if backend != "torch" else None
            encoder = load_encoder(model, backend, check_texts=sample,
                                   threads=threads if engine == "local" else None)
            backend_used = encoder.backend
            agreement = encoder.agreement.to_dict() if getattr(encoder, "agreement", None) else None
        kind = str(read_manifest(data_dir).get("kind", "retrieval")) if data_dir else "retrieval"
        now = _now()
        manifest = EmbeddingsManifest(
            model=model_ref, backend=backend_used, requested_backend=backend, batch_size=batch_size,
            shard_rows=shard_rows, kind=kind, data_dir=str(data_dir.resolve()) if data_dir else None,
            agreement=agreement, inputs=inputs, shards=shards, created_at=now, updated_at=now,
        )
        out.mkdir(parents=True, exist_ok=True)
        save_manifest(out, manifest)
    for shard in manifest.shards:
        shard.done = shard_is_written(out, shard)
    pending = manifest.pending
    skipped = len(manifest.shards) - len(pending)
    if skipped:
        log.info("%d of %d shards already embedded in %s: skipping them", skipped, len(manifest.shards), out)
    start = time.perf_counter()
    if pending:
        if engine == "local":
            encoder = encoder or load_encoder(model_ref, manifest.backend, threads=threads)
            _run_local(encoder, manifest, pending, out, show_progress)
        else:
            _run_ray(manifest, pending, out, ray_address, workers, threads or 1, show_progress)
    save_manifest(out, manifest)
    return EmbedResult(manifest=manifest, output=out, embedded=len(pending), skipped=skipped,
                       documents=sum(s.rows for s in pending), seconds=time.perf_counter() - start)


def _mark_done(manifest: EmbeddingsManifest, shard_name: str, dim: int, out: Path) -> None:
    if manifest.dim is not None and manifest.dim != dim:
        raise EmbedtuneError(f"{shard_name} has {dim}-d vectors, earlier shards {manifest.dim}-d")
    manifest.dim = dim
    for shard in manifest.shards:
        if shard.name == shard_name:
            shard.done = True
    save_manifest(out, manifest)


def _run_local(encoder: Any, manifest: EmbeddingsManifest, pending: list[ShardInfo], out: Path, show_progress: bool) -> None:
    from tqdm.auto import tqdm

    with tqdm(total=sum(s.rows for s in pending), unit="doc", desc="embed", disable=not show_progress) as bar:
        for shard in pending:
            dim = embed_shard(encoder, shard, out, manifest.batch_size)
            _mark_done(manifest, shard.name, dim, out)
            bar.update(shard.rows)


# ---- Ray Data ------------------------------------------------------------------------------------------
def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  (the [data] extra)
    except ImportError:
        raise EmbedtuneError(f"--engine ray needs Ray Data, which is not installed: {RAY_INSTALL_HINT}") from None
    return ray


class ShardEmbedder:
    """A Ray Data actor: loads the encoder once, then reads, embeds and writes the shards it is handed."""

    def __init__(self, model: str, backend: str, out_dir: str, batch_size: int, threads: int):
        from embedtune.encoders import load_encoder

        self.encoder = load_encoder(model, backend, threads=threads)
        self.out_dir = Path(out_dir)
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names, dims, seconds = [], [], []
        fields = list(ShardInfo.model_fields)
        for i in range(len(batch["name"])):
            shard = ShardInfo(**{f: batch[f][i].item() if hasattr(batch[f][i], "item") else batch[f][i] for f in fields})
            start = time.perf_counter()
            dims.append(embed_shard(self.encoder, shard, self.out_dir, self.batch_size))
            names.append(shard.name)
            seconds.append(time.perf_counter() - start)
        return {"name": np.array(names), "dim": np.array(dims), "seconds": np.array(seconds)}


def _user_error(exc: BaseException) -> EmbedtuneError | None:
    """The EmbedtuneError a Ray worker raised, found inside Ray's wrappers (cause chain, ``.cause``)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, EmbedtuneError):
            return e
        stack += [e.__cause__, e.__context__, getattr(e, "cause", None)]
    return None


def _run_ray(manifest: EmbeddingsManifest, pending: list[ShardInfo], out: Path, ray_address: str | None,
             workers: int | None, threads: int, show_progress: bool) -> None:
    ray = _import_ray()
    if not ray.is_initialized():
        try:
            ray.init(address=ray_address, include_dashboard=False, log_to_driver=show_progress,
                     logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise EmbedtuneError(f"cannot start or reach Ray at {ray_address or 'a new local instance'}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    cpus = int(ray.cluster_resources().get("CPU", 1))
    pool = workers or max(1, cpus // threads)
    pool = min(pool, len(pending))
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = show_progress
    log.info("embedding %d shards on Ray: %d actors x %d thread(s) (%d CPUs in the cluster)", len(pending), pool, threads, cpus)
    dataset = ray.data.from_items([s.model_dump() for s in pending], override_num_blocks=len(pending))
    embedded = dataset.map_batches(
        ShardEmbedder, batch_size=1, compute=ray.data.ActorPoolStrategy(size=pool), num_cpus=threads,
        fn_constructor_kwargs={"model": manifest.model, "backend": manifest.backend, "out_dir": str(out.resolve()),
                               "batch_size": manifest.batch_size, "threads": threads},
    )
    try:
        for row in embedded.iter_rows():
            _mark_done(manifest, str(row["name"]), int(row["dim"]), out)
    except Exception as exc:
        user = _user_error(exc)
        if user is not None:
            raise EmbedtuneError(str(user)) from None
        raise


# ---- reading the result back ---------------------------------------------------------------------------
def finished_manifest(out_dir: str | Path) -> EmbeddingsManifest:
    """The manifest of a complete embeddings folder; an unfinished one is an error that says how to finish it."""
    out = Path(out_dir)
    manifest = load_manifest(out)
    missing = [s.name for s in manifest.shards if not shard_is_written(out, s)]
    if missing:
        raise EmbedtuneError(f"{out}: {len(missing)} of {len(manifest.shards)} shards are not embedded yet "
                             f"(first: {missing[0]}); run the same `embedtune embed` command again to finish them")
    return manifest


def iter_embeddings(out_dir: str | Path) -> Iterator[tuple[list[Document], np.ndarray]]:
    """``(documents, vectors)`` shard by shard, in shard order (memory: one shard at a time)."""
    out = Path(out_dir)
    for shard in finished_manifest(out).shards:
        yield read_shard_file(out / shard.name)


def build_index_from_embeddings(embeddings: str | Path, output: str | Path, ann: str = "auto",
                                dtype: str = "float32") -> Any:
    """Build and save an index folder from an embeddings folder, without re-encoding."""
    from embedtune.index import VectorIndex

    manifest = finished_manifest(embeddings)
    docs: list[Document] = []
    blocks: list[np.ndarray] = []
    for shard_docs, vectors in iter_embeddings(embeddings):
        docs.extend(shard_docs)
        blocks.append(vectors)
    index = VectorIndex.from_documents(
        docs, np.concatenate(blocks), model=manifest.model, backend=manifest.backend, dtype=dtype, ann=ann,
        kind=manifest.kind, source=str(Path(embeddings).resolve()), data_dir=manifest.data_dir,
        agreement=manifest.agreement,
    )
    index.save(output)
    return index
