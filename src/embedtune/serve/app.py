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

Example::

    from embedtune.serve.app import ServeSettings, create_app
    app = create_app(ServeSettings(index="my-index", backend="onnx"))
    # uvicorn.run(app) -- or `embedtune serve my-index`
"""

# No `from __future__ import annotations` here: FastAPI must see the request models built inside
# create_app() as real classes in the endpoint signatures, not as strings it cannot resolve.
import asyncio
import contextlib
import hmac
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from embedtune.errors import EmbedtuneError
from embedtune.index import MANIFEST_FILE, SearchHit, VectorIndex, writers_excluded
from embedtune.serve.batcher import MicroBatcher

log = logging.getLogger(__name__)

API_KEY_ENV = "EMBEDTUNE_API_KEY"
STATIC_DIR = Path(str(resources.files("embedtune.serve") / "static"))


class ServeSettings(BaseModel):
    """Everything ``embedtune serve`` can be told; every default is written here once."""

    model_config = ConfigDict(protected_namespaces=())

    index: Path
    backend: str | None = Field(None, description="torch | onnx | onnx-int8 | openvino; default: the backend the index was built with")
    api_key: str | None = Field(None, description=f"require this key (Authorization: Bearer KEY or X-API-Key); default ${API_KEY_ENV}")
    cors_origins: list[str] = Field(default_factory=list, description="origins allowed to call the API from a browser ('*' for any)")
    max_query_chars: int = 2_000
    max_text_chars: int = 8_000
    max_texts: int = 64
    max_k: int = 100
    max_body_bytes: int = 1_000_000
    max_batch: int = 64
    batch_wait_ms: float = 0.0
    reload_poll_s: float = Field(2.0, description="how often to check the index folder for a new version; 0 turns it off")
    threads: int | None = None
    title: str = "embedtune search"

    @field_validator("api_key")
    @classmethod
    def _key_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("the API key is empty (an unset variable?): give a real key, or none to turn auth off")
        return value

    def resolved_api_key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key
        from_env = os.environ.get(API_KEY_ENV)
        if from_env is not None and not from_env.strip():
            raise EmbedtuneError(f"${API_KEY_ENV} is set but empty: set a real key, or unset it to turn auth off")
        return from_env


# ---- request / response models ------------------------------------------------------------------
class Hit(BaseModel):
    id: str
    score: float
    title: str
    text: str
    url: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_hit(cls, hit: SearchHit) -> "Hit":
        return cls(**hit.to_dict())


class SearchResponse(BaseModel):
    query: str
    k: int
    results: list[Hit]
    took_ms: float


class EmbedResponse(BaseModel):
    model: str
    backend: str
    dim: int
    embeddings: list[list[float]]


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    metadata: dict[str, Any] = Field(default_factory=dict)


class RecommendResponse(BaseModel):
    user_id: str | None = None
    k: int
    results: list[RecommendedItem]
    took_ms: float


def _valid_text(value: Any) -> Any:
    """Text that can be encoded: JSON's ``\\udXXX`` escapes can smuggle in lone surrogates, which no
    tokenizer accepts (they used to fail the whole micro-batch with a 500). Runs before the type
    check, so that one names the problem; anything but a string is left to it."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"contains a lone surrogate ({value[exc.start]!a}) at character {exc.start}: send valid Unicode text") from None
    return value


Text = Annotated[str, BeforeValidator(_valid_text)]
FilterValue = Text | int | float | bool


def _request_models(s: ServeSettings) -> tuple[type[BaseModel], type[BaseModel], type[BaseModel]]:
    """Request models carry the configured limits, so pydantic rejects oversize input with a 422
    that names the field and the limit, and the OpenAPI page documents them. Types are strict:
    ``"k": "3"`` or ``"k": true`` is a 422, not a 3 or a 1."""

    class SearchRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True,
                                  json_schema_extra={"examples": [{"query": "how do I reset my password?", "k": 5}]})
        query: Text = Field(min_length=1, max_length=s.max_query_chars, description="the question or search text")
        k: int = Field(10, ge=1, le=s.max_k, description="how many results")
        filters: dict[Text, FilterValue | list[FilterValue]] | None = Field(
            None, description='metadata equality filters, e.g. {"lang": "en"} or {"section": ["billing", "account"]}'
        )

        @model_validator(mode="after")
        def _not_blank(self):
            if not self.query.strip():
                raise ValueError("query is blank")
            return self

    class EmbedRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True,
                                  json_schema_extra={"examples": [{"texts": ["first text", "second text"]}]})
        texts: list[Text] = Field(min_length=1, max_length=s.max_texts, description="texts to embed")

        @model_validator(mode="after")
        def _text_limits(self):
            for i, text in enumerate(self.texts):
                if len(text) > s.max_text_chars:
                    raise ValueError(f"texts[{i}] has {len(text)} characters, over the {s.max_text_chars}-character limit")
            return self

    class RecommendRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True,
                                  json_schema_extra={"examples": [{"user_id": "u42", "k": 10}, {"history": ["item-1", "item-7"]}]})
        user_id: Text | None = Field(None, max_length=s.max_query_chars)
        history: list[Annotated[Text, Field(max_length=s.max_query_chars)]] | None = Field(
            None, max_length=s.max_texts * 16, description="item ids the user interacted with")
        k: int = Field(10, ge=1, le=s.max_k)

        @model_validator(mode="after")
        def _one_of(self):
            if (self.user_id is None) == (not self.history):
                raise ValueError("give exactly one of user_id or a non-empty history")
            return self

    return SearchRequest, EmbedRequest, RecommendRequest


# Longer inputs are cut in error bodies: a 900 KB query must not come back whole in its 422.
ERROR_INPUT_CHARS = 200
ERROR_INPUT_ITEMS = 10


def _clip(value: Any) -> Any:
    """A bounded, JSON-safe copy of a rejected input for an error body."""
    if isinstance(value, str):
        safe = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return safe if len(safe) <= ERROR_INPUT_CHARS else f"{safe[:ERROR_INPUT_CHARS]}… ({len(value):,} characters)"
    if isinstance(value, list | tuple):
        return [_clip(v) for v in value[:ERROR_INPUT_ITEMS]] + ([f"… ({len(value):,} items)"] if len(value) > ERROR_INPUT_ITEMS else [])
    if isinstance(value, dict):
        items = list(value.items())
        out = {_clip(str(k)): _clip(v) for k, v in items[:ERROR_INPUT_ITEMS]}
        if len(items) > ERROR_INPUT_ITEMS:
            out["…"] = f"{len(items):,} keys"
        return out
    if value is None or isinstance(value, bool | int | float):
        return value
    return _clip(str(value))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, with each rejected input cut short and made printable."""
    errors = [{key: (_clip(val) if key in ("input", "ctx", "msg") else val) for key, val in err.items()} for err in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


# ---- the service behind the endpoints --------------------------------------------------------------
@dataclass
class SearchJob:
    query: str
    k: int
    filters: dict[str, Any] | None


@dataclass
class EmbedJob:
    texts: list[str]


@dataclass
class _Loaded:
    index: VectorIndex
    encoder: Any
    stamp: tuple[int, int]
    loaded_at: str


RELOAD_LOCK_WAIT_S = 30.0


def _stamp(index_dir: Path) -> tuple[int, int]:
    stat = (index_dir / MANIFEST_FILE).stat()
    return stat.st_ino, stat.st_mtime_ns


class SearchService:
    """Holds the current (index, encoder) pair and answers batches of jobs against it."""

    def __init__(self, settings: ServeSettings, encoder: Any = None):
        self.settings = settings
        self._given_encoder = encoder
        self._reload_lock = threading.Lock()
        self.reloads = 0
        self._failed: tuple[tuple[int, int], str] | None = None  # the index version that failed to load, and why
        self.state = self._load(None)
        self._recommender: Any = None
        self._recommender_lock = threading.Lock()

    def _load(self, previous: "_Loaded | None") -> "_Loaded":
        from embedtune.encoders import load_encoder

        path = self.settings.index
        try:
            stamp = _stamp(path)
        except (FileNotFoundError, NotADirectoryError):
            raise EmbedtuneError(f"{path} is not an embedtune index (no {MANIFEST_FILE}); build one with "
                                 "`embedtune index build`") from None
        index = VectorIndex.load(path)
        if _stamp(path) != stamp:
            raise EmbedtuneError(f"{path} changed while it was being read; it is read again on the next poll")
        backend = self.settings.backend or index.manifest.backend
        encoder = self._given_encoder
        if encoder is None and previous is not None:
            same = (previous.index.manifest.model, previous.encoder.backend) == (index.manifest.model, backend)
            encoder = previous.encoder if same else None
        if encoder is None:
            encoder = load_encoder(index.manifest.model, backend, threads=self.settings.threads)
        if encoder.dim != index.dim:
            raise EmbedtuneError(f"the model gives {encoder.dim}-d vectors, the index at {path} holds {index.dim}-d")
        return _Loaded(index=index, encoder=encoder, stamp=stamp, loaded_at=datetime.now(UTC).isoformat(timespec="seconds"))

    def reload_if_changed(self, force: bool = False) -> bool:
        """Load the index folder again if it changed; the swap is one assignment, so a request in
        flight finishes on the old index (its memory maps stay valid) and the next one sees the new.

        The folder is read under its writers' lock (:func:`~embedtune.index.lock.writers_excluded`), so a reload
        never sees an index half-way through an ``index add``/``delete``/``build``: a poll that finds
        a writer at work skips its turn; a forced reload waits up to ``RELOAD_LOCK_WAIT_S``."""
        with self._reload_lock:
            try:
                stamp = _stamp(self.settings.index)
            except FileNotFoundError:
                return False  # mid-swap by an atomic save: try again on the next poll
            if not force and (stamp == self.state.stamp or (self._failed and self._failed[0] == stamp)):
                return False  # unchanged, or the same broken version as last time: stay quiet
            with writers_excluded(self.settings.index, RELOAD_LOCK_WAIT_S if force else 0) as free:
                if not free:
                    return False
                try:
                    self.state = self._load(self.state)
                except Exception as exc:
                    self._log_failure(stamp, exc)
                    raise
            self._failed = None
            self.reloads += 1
            log.info("reloaded index %s (%d documents)", self.settings.index, len(self.state.index))
            return True

    def _log_failure(self, stamp: tuple[int, int], exc: Exception) -> None:
        """One line per broken index version (a traceback only for what is not a user error)."""
        if self._failed != (stamp, str(exc)):
            if isinstance(exc, EmbedtuneError):
                log.error("index reload failed, still serving the previous index: %s", exc)
            else:
                log.exception("index reload failed, still serving the previous index")
        self._failed = (stamp, str(exc))

    def run_batch(self, jobs: list[SearchJob | EmbedJob]) -> list[Any]:
        """One encoder call for every text in the batch; unfiltered searches share one index call.
        A job's own error (e.g. a bad filter) is returned in its place, not raised for the batch."""
        state = self.state
        texts: list[str] = []
        spans = []
        for job in jobs:
            start = len(texts)
            texts.extend([job.query] if isinstance(job, SearchJob) else job.texts)
            spans.append((start, len(texts)))
        vectors = state.encoder.encode(texts, batch_size=max(32, len(texts)))
        results: list[Any] = [None] * len(jobs)
        plain = [i for i, job in enumerate(jobs) if isinstance(job, SearchJob) and not job.filters]
        if plain:
            k_max = max(jobs[i].k for i in plain)
            hits = state.index.search(vectors[[spans[i][0] for i in plain]], k=k_max)
            for i, found in zip(plain, hits, strict=True):
                results[i] = found[: jobs[i].k]
        for i, job in enumerate(jobs):
            if isinstance(job, EmbedJob):
                results[i] = vectors[spans[i][0] : spans[i][1]]
            elif job.filters:
                try:
                    results[i] = state.index.search(vectors[spans[i][0] : spans[i][0] + 1], k=job.k, filters=job.filters)[0]
                except Exception as exc:
                    results[i] = exc
        return results

    @property
    def recommend_enabled(self) -> bool:
        manifest = self.state.index.manifest
        return manifest.kind == "recsys" and bool(manifest.data_dir)

    def recommender(self) -> Any:
        with self._recommender_lock:
            if self._recommender is None:
                from embedtune.base_model import resolve_model_path
                from embedtune.recsys.recommend import Recommender

                manifest = self.state.index.manifest
                self._recommender = Recommender(resolve_model_path(manifest.model), manifest.data_dir)
            return self._recommender


# ---- middleware ----------------------------------------------------------------------------------
class BodySizeLimit:
    """Reject a request body over ``limit`` bytes with 413, whether or not it declares its length."""

    def __init__(self, app: Any, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(send, int(declared))
            return
        # Read the body here (at most `limit` bytes) and replay it: an error raised from inside the
        # app's own body parsing would be turned into a 400 by FastAPI.
        chunks: list[bytes] = []
        received = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message), send)
                return
            body = message.get("body", b"")
            received += len(body)
            if received > self.limit:
                await self._reject(send, received)
                return
            chunks.append(body)
            more = message.get("more_body", False)
        await self.app(scope, _replay(chunks, None, receive), send)

    async def _reject(self, send: Any, size: int) -> None:
        response = JSONResponse(
            {"detail": f"request body is {size:,}+ bytes, over the {self.limit:,}-byte limit"}, status_code=413
        )
        await response({"type": "http"}, None, send)


class RequestMetrics:
    """Count requests by endpoint and status and time them (a plain ASGI middleware: Starlette's
    ``@app.middleware("http")`` wraps every response in a task and a stream, which costs more than
    a small search)."""

    ENDPOINTS = frozenset({"/search", "/embed", "/recommend", "/health", "/metrics", "/admin/reload"})

    def __init__(self, app: Any, requests_total: Any, latency: Any):
        self.app = app
        self.requests_total = requests_total
        self.latency = latency

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") not in self.ENDPOINTS:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_record(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope["path"]
            self.requests_total.labels(route, str(status)).inc()
            self.latency.labels(route).observe(time.perf_counter() - start)


def _replay(chunks: list[bytes], final: dict | None, receive: Any = None) -> Any:
    """An ASGI ``receive`` that first returns the buffered body, then defers to the real one."""
    pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}] if final is None else [final]

    async def replay():
        if pending:
            return pending.pop()
        if receive is not None:
            return await receive()
        return {"type": "http.disconnect"}

    return replay


# ---- the app -------------------------------------------------------------------------------------
def create_app(settings: ServeSettings, encoder: Any = None) -> FastAPI:
    """Build the FastAPI app for ``settings.index``; ``encoder`` overrides the model (tests)."""
    service = SearchService(settings, encoder=encoder)
    api_key = settings.resolved_api_key()
    SearchRequest, EmbedRequest, RecommendRequest = _request_models(settings)

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

    async def poll_index() -> None:
        while True:
            await asyncio.sleep(settings.reload_poll_s)
            # A broken index must not take the service down; the service logs it once per version.
            with contextlib.suppress(Exception):
                await run_in_threadpool(service.reload_if_changed)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        poller = asyncio.create_task(poll_index()) if settings.reload_poll_s > 0 else None
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            await batcher.stop()  # answers every request already queued
            log.info("shut down cleanly: every queued request was answered")

    app = FastAPI(
        title=settings.title,
        description="Semantic search, recommendations and embeddings from an embedtune index.",
        version="1",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.batcher = batcher
    app.add_exception_handler(RequestValidationError, _validation_error)

    app.add_middleware(RequestMetrics, requests_total=requests_total, latency=latency)

    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-API-Key"], max_age=600)
    app.add_middleware(BodySizeLimit, limit=settings.max_body_bytes)

    def require_key(request: Request) -> None:
        if api_key is None:
            return
        given = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if given is None and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if given is None or not hmac.compare_digest(given.encode(), api_key.encode()):
            raise HTTPException(status_code=401, detail="missing or wrong API key (send Authorization: Bearer KEY or X-API-Key: KEY)",
                                headers={"WWW-Authenticate": "Bearer"})

    guarded = [Depends(require_key)]

    @app.post("/search", response_model=SearchResponse, dependencies=guarded, tags=["search"])
    async def search(body: SearchRequest) -> SearchResponse:  # type: ignore[valid-type]
        """Rank the index's passages for a query; optional metadata filters (equality, any-of)."""
        start = time.perf_counter()
        result = await batcher.submit(SearchJob(body.query, body.k, body.filters))
        if isinstance(result, Exception):
            raise HTTPException(status_code=422, detail=f"cannot apply filters: {result}")
        return SearchResponse(query=body.query, k=body.k, results=[Hit.from_hit(h) for h in result],
                              took_ms=round((time.perf_counter() - start) * 1000, 2))

    @app.post("/embed", response_model=EmbedResponse, dependencies=guarded, tags=["embed"])
    async def embed(body: EmbedRequest) -> EmbedResponse:  # type: ignore[valid-type]
        """Unit-length embeddings of up to ``max_texts`` texts, from the model behind the index."""
        vectors: np.ndarray = await batcher.submit(EmbedJob(list(body.texts)))
        state = service.state
        return EmbedResponse(model=state.index.manifest.model, backend=state.encoder.backend, dim=int(vectors.shape[1]),
                             embeddings=vectors.astype(float).round(7).tolist())

    @app.post("/recommend", response_model=RecommendResponse, dependencies=guarded, tags=["recommend"],
              responses={404: {"description": "the index was not built from a recsys DATA_DIR"}})
    async def recommend(body: RecommendRequest) -> RecommendResponse:  # type: ignore[valid-type]
        """Items for a known user or for a list of item ids the user interacted with."""
        if not service.recommend_enabled:
            raise HTTPException(status_code=404, detail=(
                "recommendations are off: this index was not built from a recsys DATA_DIR "
                "(build one with `embedtune index build --corpus RECSYS_DATA_DIR ...`)"))
        start = time.perf_counter()
        try:
            recommender = await run_in_threadpool(service.recommender)
            recs = await run_in_threadpool(recommender.recommend, user_id=body.user_id, history=body.history, k=body.k)
        except ImportError as exc:
            raise HTTPException(status_code=501, detail=f"recommendations need embedtune.recsys.recommend: {exc}") from None
        except (EmbedtuneError, KeyError, ValueError) as exc:
            raise HTTPException(status_code=404 if isinstance(exc, KeyError) else 422, detail=str(exc).strip("'\"")) from None
        items = [RecommendedItem(item_id=str(r.item_id), score=float(r.score), metadata=dict(r.metadata or {})) for r in recs]
        return RecommendResponse(user_id=body.user_id, k=body.k, results=items,
                                 took_ms=round((time.perf_counter() - start) * 1000, 2))

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, Any]:
        """Liveness and what is being served."""
        state = service.state
        manifest = state.index.manifest
        return {"status": "ok", "documents": len(state.index), "model": manifest.model, "backend": state.encoder.backend,
                "dim": manifest.dim, "dtype": manifest.dtype, "ann": manifest.ann.kind if manifest.ann else "exact",
                "kind": manifest.kind, "recommend": service.recommend_enabled, "index_updated_at": manifest.updated_at,
                "loaded_at": state.loaded_at, "reloads": service.reloads, "auth": api_key is not None}

    @app.get("/metrics", dependencies=guarded, tags=["ops"])
    async def metrics() -> Response:
        """Prometheus text format: request counts and latency per endpoint, batch sizes, index size."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/admin/reload", dependencies=guarded, tags=["ops"])
    async def reload() -> dict[str, Any]:
        """Re-read the index folder now (it is also polled every ``reload_poll_s`` seconds)."""
        try:
            await run_in_threadpool(service.reload_if_changed, True)
        except Exception as exc:
            raise HTTPException(status_code=409, detail=f"reload failed, still serving the previous index: {exc}") from None
        return {"reloaded": True, "documents": len(service.state.index), "loaded_at": service.state.loaded_at}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/widget.js", include_in_schema=False)
    async def widget() -> FileResponse:
        return FileResponse(STATIC_DIR / "widget.js", media_type="application/javascript; charset=utf-8",
                            headers={"Cache-Control": "public, max-age=300"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
