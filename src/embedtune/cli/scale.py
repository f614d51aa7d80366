"""CLI commands for running beyond one process: ``embed`` (local or Ray Data) and ``index push`` (PostgreSQL + pgvector).

Registered by :mod:`embedtune.cli`; each command parses, calls the library, prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedtune.cli.options import quiet_logging
from embedtune.encoders import BACKENDS, DEFAULT_BACKEND


def embed_command(
    model: Annotated[str, typer.Option("--model", "-m", help="model folder or 'all-MiniLM-L6-v2'")],
    corpus: Annotated[str, typer.Option("--corpus", "-c", help="corpus.jsonl, a .parquet file, a DATA_DIR, a folder of .jsonl/.parquet shards, or a quoted glob")],
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for the Parquet shards and embeddings.json (a rerun resumes)")],
    engine: Annotated[str, typer.Option(help="local: this process; ray: a Ray Data actor pool (pip install 'embedtune[ray]')")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster to join, e.g. ray://head:10001 or auto (default: start a local Ray)")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="ray: actors in the pool (default: cluster CPUs / --threads)")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="encoder threads per worker (ray default 1; local default all cores)")] = None,
    backend: Annotated[str, typer.Option(help="torch | onnx | onnx-int8 | openvino (a non-torch backend is checked against torch first)")] = DEFAULT_BACKEND,
    batch_size: Annotated[int, typer.Option(min=1, help="texts per encoder call")] = 32,
    shard_rows: Annotated[int, typer.Option(min=1, help="documents per output shard (the unit of resuming and of Ray work)")] = 10_000,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="discard embeddings already in --output and start again")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Embed a corpus into Parquet shards (id, title, text, metadata, vector); rerun to resume.

    Example:

        embedtune embed --model runs/my-model --corpus data/corpus.jsonl -o runs/emb

        embedtune embed --model runs/my-model --corpus 'data/part-*.parquet' -o runs/emb --engine ray --ray-address auto

        embedtune index build --from-embeddings runs/emb -o runs/index
    """
    from embedtune.embed import ENGINES, embed_corpus

    if engine not in ENGINES:
        raise typer.BadParameter(f"{engine!r} is not one of {', '.join(ENGINES)}", param_hint="--engine")
    if backend not in BACKENDS:
        raise typer.BadParameter(f"{backend!r} is not one of {', '.join(BACKENDS)}", param_hint="--backend")
    if ray_address and engine != "ray":
        raise typer.BadParameter("--ray-address needs --engine ray")
    quiet_logging(quiet)
    result = embed_corpus(model, corpus, output, engine=engine, backend=backend, ray_address=ray_address,
                          workers=workers, threads=threads, batch_size=batch_size, shard_rows=shard_rows,
                          overwrite=overwrite, show_progress=not quiet)
    m = result.manifest
    if m.agreement:
        from embedtune.encoders import Agreement

        state = "used" if m.backend == backend else f"NOT used, fell back to {m.backend}"
        typer.echo(f"{Agreement(**m.agreement).summary()} -> {state}")
    rate = f" ({result.docs_per_second:,.1f} docs/s)" if result.documents else ""
    typer.echo(f"embedded {result.documents:,} documents in {result.embedded} shards{rate}, {result.skipped} shards already done; "
               f"{m.rows:,} documents, {m.dim}-d, {m.model} [{m.backend}] -> {result.output}")


STORE_URL_ENV = "EMBEDTUNE_STORE_URL"


def index_push(
    index: Annotated[Path, typer.Argument(help="index folder (`index build`) or embeddings folder (`embed`)")],
    to: Annotated[str, typer.Option("--to", help="postgresql://user[:password]@host:port/database (or PGPASSWORD / ~/.pgpass for the password)",
                                    envvar=STORE_URL_ENV, show_envvar=True)],
    table: Annotated[str, typer.Option(help="table to create or replace")] = "embedtune_documents",
    recall_sample: Annotated[int, typer.Option(min=0, help="stored rows used to measure recall@10 and choose ef_search (0: skip)")] = 100,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Copy an index (or embeddings) into PostgreSQL + pgvector; the table is swapped in atomically.

    Example:

        embedtune index push runs/index --to postgresql://app@db.internal/search --table docs

        embedtune serve --store postgresql://app@db.internal/search --table docs
    """
    from embedtune.store.postgres import push_path, redact_url

    quiet_logging(quiet)
    result = push_path(index, to, table, recall_sample=recall_sample, show_progress=not quiet)
    info = result.info
    typer.echo(f"pushed {result.rows:,} rows to {redact_url(to)} table {table} in "
               f"{result.load_seconds + result.index_seconds + result.swap_seconds:.1f} s "
               f"(COPY {result.rows / max(result.load_seconds, 1e-9):,.0f} rows/s, HNSW + full-text index build {result.index_seconds:.1f} s); "
               f"model {info.model} [{info.backend}], {info.dim}-d")
    if info.recall_at_10 is not None:
        typer.echo(f"ef_search {info.ef_search}: recall@10 vs exact {info.recall_at_10:.4f} on {info.recall_sample} stored rows")


# ---- the hooks that `index build|add|delete` in cli/serve.py call -------------------------------------
def index_build_from_embeddings(embeddings: Path, output: Path, ann: str, dtype: str) -> None:
    """``index build --from-embeddings``: the index of an `embed` folder, no model load, no encoding."""
    from embedtune.embed import build_index_from_embeddings

    index = build_index_from_embeddings(embeddings, output, ann=ann, dtype=dtype)
    m = index.manifest
    search_kind = "exact" if m.ann is None else f"HNSW (M={m.ann.m}, ef_search={m.ann.ef_search}, recall@10 vs exact {m.ann.recall_at_10:.4f} on stored rows)"
    typer.echo(f"indexed {m.live:,} documents from {embeddings} with {m.model} [{m.backend}], {m.dim}-d {m.dtype}, {search_kind} -> {output}")


def index_add_to_store(to: str | None, table: str, corpus: Path, index: Path | None, batch_size: int, quiet: bool) -> None:
    """``index add --to``: encode with the store's model and upsert by id."""
    from embedtune.store.postgres import add_to_store, redact_url

    if to is None:
        raise typer.BadParameter("give an INDEX folder, or --to postgresql://... for a store")
    if index is not None:
        raise typer.BadParameter("give an INDEX folder or --to, not both")
    added, updated = add_to_store(to, table, corpus, batch_size=batch_size, show_progress=not quiet)
    typer.echo(f"added {added:,}, updated {updated:,} documents in {redact_url(to)} table {table}")


def index_delete_from_store(to: str, table: str, ids: list[str]) -> None:
    """``index delete --to``: delete rows by id."""
    from embedtune.store.postgres import delete_from_store, redact_url

    n = delete_from_store(to, table, ids)
    typer.echo(f"deleted {n:,} of {len(ids):,} ids from {redact_url(to)} table {table}"
               + ("" if n == len(ids) else " (the others were not in the table)"))


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app (``index push`` joins the ``index`` group in cli/serve.py)."""
    app.command("embed")(embed_command)

