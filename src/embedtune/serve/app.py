"""The HTTP service: search, recommend and embed over an index folder, with a web page and a widget.

Endpoints (OpenAPI docs at ``/docs``):

- ``POST /search`` ``{"query", "k", "filters"}`` → ranked passages (id, score, title, text, url, metadata)
- ``POST /recommend`` ``{"user_id" | "history", "k"}`` → items (only for indexes built from a recsys DATA_DIR)
- ``POST /embed`` ``{"texts"}`` → unit-length vectors from the index's model
- ``GET /health``, ``GET /metrics`` (Prometheus text), ``GET /`` (search page), ``GET /widget.js``
- ``POST /admin/reload`` → re-read the index folder now (it is also polled for changes)

Concurrent ``/search`` and ``/embed`` calls are micro-batched into one encoder call
(:mod:`embedtune.serve.batcher`). A rebuilt or updated index folder is picked up without failing a
request: the new one is loaded beside the old and swapped in with one assignment.

The parts: :mod:`.settings` (``ServeSettings``), :mod:`.schemas` (request and response bodies),
:mod:`.service` (index + encoder, hot reload, batches), :mod:`.routes` (the endpoints),
:mod:`.middleware` (body limit, metrics); this module puts them together.

Example::

    from embedtune.serve.app import ServeSettings, create_app
    app = create_app(ServeSettings(index="my-index", backend="onnx"))
    # uvicorn.run(app) -- or `embedtune serve my-index`
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from embedtune.serve.batcher import MicroBatcher
from embedtune.serve.middleware import BodySizeLimit, RequestMetrics
from embedtune.serve.routes import STATIC_DIR, Runtime, api, public
from embedtune.serve.schemas import validation_error
from embedtune.serve.service import SearchService
from embedtune.serve.settings import API_KEY_ENV, ServeSettings

__all__ = ["API_KEY_ENV", "SearchService", "ServeSettings", "create_app"]

log = logging.getLogger(__name__)


async def _poll_index(service: SearchService, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        # A broken index must not take the service down; the service logs it once per version.
        with contextlib.suppress(Exception):
            await run_in_threadpool(service.reload_if_changed)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    rt: Runtime = app.state.runtime
    settings: ServeSettings = rt.service.settings
    await rt.batcher.start()
    poller = asyncio.create_task(_poll_index(rt.service, settings.reload_poll_s)) if settings.reload_poll_s > 0 else None
    try:
        yield
    finally:
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        await rt.batcher.stop()  # answers every request already queued
        log.info("shut down cleanly: every queued request was answered")


def create_app(settings: ServeSettings, encoder: Any = None) -> FastAPI:
    """Build the FastAPI app for ``settings.index``; ``encoder`` overrides the model (tests)."""
    service = SearchService(settings, encoder=encoder)

    registry = CollectorRegistry()
    requests_total = Counter("embedtune_requests", "HTTP requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("embedtune_request_seconds", "request latency", ["endpoint"], registry=registry,
                        buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
    batch_sizes = Histogram("embedtune_batch_size", "jobs per encoder call", registry=registry,
                            buckets=(1, 2, 4, 8, 16, 32, 64, 128))
    documents = Gauge("embedtune_index_documents", "live documents in the index", registry=registry)
    documents.set_function(lambda: len(service.state.index))
    reloads = Gauge("embedtune_index_reloads", "times the index was reloaded", registry=registry)
    reloads.set_function(lambda: service.reloads)

    batcher: MicroBatcher = MicroBatcher(service.run_batch, max_batch=settings.max_batch,
                                         max_wait_ms=settings.batch_wait_ms, on_batch=batch_sizes.observe)

    app = FastAPI(
        title=settings.title,
        description="Semantic search, recommendations and embeddings from an embedtune index.",
        version="1",
        lifespan=_lifespan,
    )
    app.state.runtime = Runtime(service=service, batcher=batcher, api_key=settings.resolved_api_key(), registry=registry)
    app.state.service = service
    app.state.batcher = batcher
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(RequestMetrics, requests_total=requests_total, latency=latency)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-API-Key"], max_age=600)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)
    app.include_router(api)
    app.include_router(public)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
