"""CLI commands for the serve area: ``index build|add|delete|info``, ``search`` and ``serve``.

Registered by :mod:`embedtune.cli`; each command parses, calls the library, prints.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from embedtune.base_model import DEFAULT_BASE_MODEL
from embedtune.cli.options import field_option, quiet_logging
from embedtune.cli.scale import index_push
from embedtune.encoders import BACKENDS, DEFAULT_BACKEND
from embedtune.errors import EmbedtuneError
from embedtune.serve.settings import API_KEY_ENV, ServeSettings

DEFAULT_K = 10
SNIPPET_CHARS = 240

index_app = typer.Typer(help="Build and update a vector index (vectors + ids + metadata).", no_args_is_help=True)


def _check_backend(backend: str | None) -> None:
    if backend is not None and backend not in BACKENDS:
        raise typer.BadParameter(f"{backend!r} is not one of {', '.join(BACKENDS)}", param_hint="--backend")


@index_app.command("build")
def index_build(
    output: Annotated[Path, typer.Option("--output", "-o", help="index folder to write (replaced atomically)")],
    model: Annotated[str | None, typer.Option("--model", "-m", help=f"model folder or '{DEFAULT_BASE_MODEL}'")] = None,
    corpus: Annotated[Path | None, typer.Option("--corpus", "-c", help="corpus.jsonl, or a DATA_DIR (site, retrieval or recsys) holding one")] = None,
    from_embeddings: Annotated[Path | None, typer.Option("--from-embeddings", help="folder from `embedtune embed`: no --model/--corpus, no re-encoding")] = None,
    ann: Annotated[str, typer.Option(help="auto: HNSW from 50,000 documents; none: exact only; hnsw: always")] = "auto",
    dtype: Annotated[str, typer.Option(help="vector storage: float32 | float16 | int8")] = "float32",
    backend: Annotated[str, typer.Option(help="encoder: torch | onnx | onnx-int8 | openvino (checked against torch on your corpus)")] = DEFAULT_BACKEND,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace OUTPUT even if it holds something other than an index")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Encode a corpus and save an index folder.

    Example:

        embedtune index build --model runs/my-model --corpus data/site -o runs/index --backend onnx-int8
    """
    from embedtune.index import build_index

    _check_backend(backend)
    quiet_logging(quiet)
    if from_embeddings is not None:  # embedtune embed's output (cli/scale.py)
        from embedtune.cli.scale import index_build_from_embeddings

        return index_build_from_embeddings(from_embeddings, output, ann=ann, dtype=dtype)
    if model is None or corpus is None:
        raise typer.BadParameter("give --model and --corpus (or --from-embeddings)")
    from embedtune.recsys.stats import index_attachments

    index = build_index(model, corpus, output, ann=ann, dtype=dtype, backend=backend, batch_size=batch_size,
                        show_progress=not quiet, overwrite=overwrite, attachments=index_attachments(corpus, model))
    m = index.manifest
    if m.agreement:
        a = m.agreement
        state = "used" if m.backend == backend else f"NOT used, fell back to {m.backend}"
        typer.echo(f"{a['backend']} agreement with torch fp32 on {a['n_texts']} texts: mean cosine {a['mean_cosine']:.4f}, "
                   f"top-10 overlap {a['top10_overlap']:.3f}, top-1 same {a['top1_same']:.3f} -> {state}")
    search_kind = "exact"
    if m.ann is not None:
        search_kind = f"HNSW (M={m.ann.m}, ef_search={m.ann.ef_search}, recall@10 vs exact {m.ann.recall_at_10:.4f} on {m.ann.recall_sample} {'real queries' if m.ann.recall_queries == 'queries' else 'stored rows'})"
    lexical = f"; BM25 over {m.lexical.terms:,} terms" if m.lexical else ""
    if m.lexical and m.lexical.expansion_documents:  # the model's fusion.json chose BM25 with training queries
        lexical += (f", {m.lexical.expansion_documents:,} documents with the training queries that judge them "
                    f"({m.lexical.expansion_queries:,} judgments; fusion.json: expansion)")
    typer.echo(f"indexed {m.live:,} documents ({m.kind}) with {m.model} [{m.backend}], {m.dim}-d {m.dtype}, {search_kind}{lexical} -> {output}")


@index_app.command("add")
def index_add(
    corpus: Annotated[Path, typer.Option("--corpus", "-c", help="corpus.jsonl with the documents to add or update (same _id = update)")],
    index: Annotated[Path | None, typer.Argument(help="index folder (not with --to)")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    to: Annotated[str | None, typer.Option("--to", help="a PostgreSQL store instead: postgresql://... (see `index push`)")] = None,
    table: Annotated[str, typer.Option(help="with --to: the store table")] = "embedtune_documents",
) -> None:
    """Add new documents or update existing ones (matched by _id) without rebuilding the index.

    Example:

        embedtune index add runs/index --corpus new-pages.jsonl
    """
    from embedtune.index import add_to_index

    quiet_logging(quiet)
    if to is not None or index is None:  # PostgreSQL + pgvector store (cli/scale.py)
        from embedtune.cli.scale import index_add_to_store

        return index_add_to_store(to, table, corpus, index, batch_size=batch_size, quiet=quiet)
    added, updated = add_to_index(index, corpus, batch_size=batch_size, show_progress=not quiet)
    typer.echo(f"added {added:,}, updated {updated:,} documents in {index}")


@index_app.command("delete")
def index_delete(
    index: Annotated[str, typer.Argument(help="index folder (with --to: the first id to delete)")],
    ids: Annotated[list[str] | None, typer.Argument(help="document ids to delete")] = None,
    ids_file: Annotated[Path | None, typer.Option("--ids-file", help="file with one id per line")] = None,
    to: Annotated[str | None, typer.Option("--to", help="a PostgreSQL store instead: postgresql://... (see `index push`)")] = None,
    table: Annotated[str, typer.Option(help="with --to: the store table")] = "embedtune_documents",
) -> None:
    """Delete documents by id.

    Example:

        embedtune index delete runs/index page-12#3 page-12#4
    """
    from embedtune.index import delete_from_index

    wanted = ([index] if to else []) + list(ids or [])
    if ids_file is not None:
        if not ids_file.is_file():
            raise EmbedtuneError(f"{ids_file}: file not found")
        wanted += [line.strip() for line in ids_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not wanted:
        raise typer.BadParameter("give ids to delete, or --ids-file")
    if to is not None:  # PostgreSQL + pgvector store (cli/scale.py)
        from embedtune.cli.scale import index_delete_from_store

        return index_delete_from_store(to, table, wanted)
    n = delete_from_index(index, wanted)
    typer.echo(f"deleted {n:,} of {len(wanted):,} ids from {index}" + ("" if n == len(wanted) else " (the others were not in the index)"))


@index_app.command("info")
def index_info(index: Annotated[Path, typer.Argument(help="index folder")]) -> None:
    """Print an index's manifest (model, backend, size, ANN recall).

    Example:

        embedtune index info runs/index
    """
    from embedtune.index import VectorIndex

    typer.echo(VectorIndex.load(index).manifest.model_dump_json(indent=2))


def _parse_filters(values: list[str] | None) -> dict[str, Any] | None:
    filters: dict[str, Any] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--filter")
        filters.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in filters.items()} or None


def _cached_index(model: str, data: Path, backend: str, quiet: bool) -> Path:
    from embedtune.index import cached_index

    def announce(corpus_file: Path, path: Path) -> None:
        if not quiet:
            typer.echo(f"building an exact index of {corpus_file} (cached in {path})", err=True)

    return cached_index(model, data, backend, show_progress=not quiet, on_build=announce)


def search(
    args: Annotated[list[str], typer.Argument(help='INDEX "query"  (or just "query" with --model/--corpus)', show_default=False)],
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="number of results")] = DEFAULT_K,
    model: Annotated[str | None, typer.Option("--model", "-m", help="site form: model folder (with --corpus)")] = None,
    corpus: Annotated[Path | None, typer.Option("--corpus", "-c", help="site form: DATA_DIR or corpus.jsonl; an exact index is built and cached")] = None,
    filters: Annotated[list[str] | None, typer.Option("--filter", "-f", help="metadata KEY=VALUE (repeat: same key = any of)")] = None,
    backend: Annotated[str | None, typer.Option(help="encoder backend; default: the index's")] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="dense | lexical (BM25) | hybrid (both fused, as `embedtune eval` scores it); default: hybrid when the model folder's fusion.json beat dense on dev, else dense")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print results as JSON lines")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Search an index (or a corpus directly) and print the top passages with title, URL and score.

    Example:

        embedtune search runs/index "how do I export my notes?" -k 5

        embedtune search runs/index "error 0x80070005" --mode lexical

        embedtune search --model runs/my-model --corpus data/site "how do I export my notes?"
    """
    from embedtune.encoders import load_encoder
    from embedtune.index import VectorIndex
    from embedtune.index.hybrid import MODES, choose_mode
    from embedtune.index.hybrid import search as search_mode

    _check_backend(backend)
    if mode is not None and mode not in MODES:
        raise typer.BadParameter(f"{mode!r} is not one of {', '.join(MODES)}", param_hint="--mode")
    quiet_logging(quiet)
    if corpus is not None or model is not None:
        if corpus is None or model is None:
            raise typer.BadParameter("the site form needs both --model and --corpus")
        if len(args) != 1:
            raise typer.BadParameter('with --model/--corpus give only the query: embedtune search --model M --corpus DIR "question"')
        index_path, query = _cached_index(model, corpus, backend or DEFAULT_BACKEND, quiet), args[0]
    else:
        if len(args) != 2:
            raise typer.BadParameter('give INDEX and "query" (or --model and --corpus with just the query)')
        index_path, query = Path(args[0]), args[1]
    if not query.strip():
        raise typer.BadParameter("the query is empty")
    index = VectorIndex.load(index_path)
    choice = choose_mode(index, mode)
    if not quiet:
        typer.echo(f"mode: {choice.default} ({choice.reason})", err=True)
    vectors = None
    if choice.default != "lexical":
        vectors = load_encoder(index.manifest.model, backend or index.manifest.backend).encode([query])
    hits = search_mode(index, [query], vectors, k, choice.default, fusion=choice.fusion, filters=_parse_filters(filters))[0]
    if as_json:
        for hit in hits:
            typer.echo(json.dumps(hit.to_dict(), ensure_ascii=False))
        return
    if not hits:
        typer.echo("no results")
    for rank, hit in enumerate(hits, start=1):
        typer.echo(f"{rank:>2}. {hit.score:.3f}  {hit.title or hit.id}  [{hit.id}]")
        if hit.url:
            typer.echo(f"    {hit.url}")
        text = " ".join(hit.text.split())
        typer.echo(f"    {text[:SNIPPET_CHARS] + ('…' if len(text) > SNIPPET_CHARS else '')}")


def serve(
    index: Annotated[Path | None, typer.Argument(help="index folder (from `embedtune index build`); or --store")] = None,
    host: Annotated[str, typer.Option(help="address to bind; 0.0.0.0 exposes the service to the network")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
    backend: Annotated[str | None, field_option(ServeSettings, "backend")] = None,
    api_key: Annotated[str | None, field_option(ServeSettings, "api_key", envvar=API_KEY_ENV, show_envvar=True)] = None,
    cors: Annotated[list[str] | None, field_option(ServeSettings, "cors_origins", "--cors", help="allowed browser origin (repeat; '*' for any)")] = None,
    max_batch: Annotated[int | None, field_option(ServeSettings, "max_batch", min=1)] = None,
    batch_wait_ms: Annotated[float | None, field_option(ServeSettings, "batch_wait_ms", min=0)] = None,
    reload_poll: Annotated[float | None, field_option(ServeSettings, "reload_poll_s", "--reload-poll", min=0)] = None,
    threads: Annotated[int | None, field_option(ServeSettings, "threads", min=1)] = None,
    mode: Annotated[str | None, field_option(ServeSettings, "mode", metavar="[auto|dense|lexical|hybrid]")] = None,
    max_body_bytes: Annotated[int | None, field_option(ServeSettings, "max_body_bytes", min=1)] = None,
    title: Annotated[str | None, field_option(ServeSettings, "title")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no access log")] = False,
    store: Annotated[str | None, field_option(ServeSettings, "store")] = None,
    table: Annotated[str | None, field_option(ServeSettings, "table")] = None,
) -> None:
    """Serve search, recommend and embed over HTTP, with a search page at / and a site widget at /widget.js.

    Example:

        embedtune serve runs/index --port 8000 --backend onnx --cors https://docs.example.com

        curl -s localhost:8000/search -H 'content-type: application/json' -d '{"query": "export notes", "k": 3}'
    """
    import uvicorn
    from threadpoolctl import threadpool_limits

    from embedtune.serve.app import create_app

    _check_backend(backend)
    if api_key is not None and not api_key.strip():
        raise EmbedtuneError("--api-key is empty (an unset variable?): give a real key, or leave the option out to turn auth off")
    logging.getLogger("embedtune").setLevel(logging.INFO)
    # Exact search is a memory-bound matrix-vector product: one BLAS thread is as fast, and BLAS threads
    # spinning beside the encoder's own thread pool made single torch requests 5x slower on 2 cores.
    threadpool_limits(limits=1, user_api="blas")
    if (index is None) == (store is None):
        raise typer.BadParameter("give an INDEX folder or --store postgresql://..., not both")
    from pydantic import ValidationError

    flags = {"table": table, "backend": backend, "api_key": api_key, "cors_origins": cors, "max_batch": max_batch,
             "batch_wait_ms": batch_wait_ms, "reload_poll_s": reload_poll, "threads": threads, "mode": mode,
             "max_body_bytes": max_body_bytes, "title": title}
    given = {name: value for name, value in flags.items() if value is not None}  # the rest: $EMBEDTUNE_* or the default
    try:
        settings = ServeSettings(index=index, store=store, **given)
    except ValidationError as exc:
        raise EmbedtuneError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    app = create_app(settings)
    from embedtune.store.postgres import redact_url

    source = index if store is None else f"{redact_url(store)} table {settings.table}"
    typer.echo(f"serving {source} on http://{host}:{port}  (docs: /docs, page: /, widget: /widget.js)", err=True)
    uvicorn.run(app, host=host, port=port, access_log=not quiet, log_level="warning" if quiet else "info",
                timeout_graceful_shutdown=10)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    index_app.command("push")(index_push)  # cli/scale.py: the PostgreSQL + pgvector side of `index`
    app.add_typer(index_app, name="index")
    app.command("search")(search)
    app.command("serve")(serve)
