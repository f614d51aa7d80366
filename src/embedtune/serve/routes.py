"""The endpoints. Each takes what it needs as a dependency (``Annotated[..., Depends(...)]``) from
the app's state, which :func:`embedtune.serve.app.create_app` fills."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from embedtune.errors import EmbedtuneError
from embedtune.serve.batcher import MicroBatcher
from embedtune.serve.schemas import (
    EmbedRequest,
    EmbedResponse,
    Hit,
    RecommendedItem,
    RecommendRequest,
    RecommendResponse,
    SearchRequest,
    SearchResponse,
)
from embedtune.serve.service import EmbedJob, ModeUnavailable, SearchJob, SearchService

STATIC_DIR = Path(str(resources.files("embedtune.serve") / "static"))


@dataclass
class Runtime:
    """What the endpoints share, kept in ``app.state.runtime``."""

    service: SearchService
    batcher: MicroBatcher
    api_key: str | None
    registry: CollectorRegistry


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def require_key(request: Request, rt: RuntimeDep) -> None:
    """401 unless the request carries the API key (when one is set)."""
    if rt.api_key is None:
        return
    given = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if given is None and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if given is None or not hmac.compare_digest(given.encode(), rt.api_key.encode()):
        raise HTTPException(status_code=401, detail="missing or wrong API key (send Authorization: Bearer KEY or X-API-Key: KEY)",
                            headers={"WWW-Authenticate": "Bearer"})


api = APIRouter(dependencies=[Depends(require_key)])
public = APIRouter()


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


@api.post("/search", response_model=SearchResponse, tags=["search"])
async def search(body: SearchRequest, rt: RuntimeDep) -> SearchResponse:
    """Rank the index's passages for a query; optional metadata filters (equality, any-of)."""
    start = time.perf_counter()
    job = SearchJob(body.query, body.k, body.filters, body.mode)
    try:
        mode = rt.service.mode_of(job)
    except ModeUnavailable as exc:
        raise _mode_error(body.mode, exc) from None
    result = await rt.batcher.submit(job)
    if isinstance(result, ModeUnavailable):  # the index was swapped for one without a lexical part meanwhile
        raise _mode_error(body.mode, result)
    if isinstance(result, Exception):
        raise HTTPException(status_code=422, detail=f"cannot apply filters: {result}")
    return SearchResponse(query=body.query, k=body.k, mode=mode, results=[Hit.from_hit(h) for h in result],
                          took_ms=_ms_since(start))


def _mode_error(mode: str | None, exc: Exception) -> HTTPException:
    """422 naming the ``mode`` field, shaped like a validation error."""
    return HTTPException(status_code=422, detail=[{"type": "value_error", "loc": ["body", "mode"], "msg": str(exc),
                                                   "input": mode}])


@api.post("/embed", response_model=EmbedResponse, tags=["embed"])
async def embed(body: EmbedRequest, rt: RuntimeDep) -> EmbedResponse:
    """Unit-length embeddings of up to ``MAX_TEXTS`` texts, from the model behind the index."""
    vectors: np.ndarray = await rt.batcher.submit(EmbedJob(list(body.texts)))
    state = rt.service.state
    return EmbedResponse(model=state.index.manifest.model, backend=state.encoder.backend, dim=int(vectors.shape[1]),
                         embeddings=vectors.astype(float).round(7).tolist())


@api.post("/recommend", response_model=RecommendResponse, tags=["recommend"],
          responses={404: {"description": "the index was not built from a recsys DATA_DIR"}})
async def recommend(body: RecommendRequest, rt: RuntimeDep) -> RecommendResponse:
    """Items for a known user or for a list of item ids the user interacted with, ranked against the index's
    own item vectors with the encoder this server runs (``--backend``); ``mode`` text, cooccurrence or hybrid."""
    service = rt.service
    if not service.recommend_enabled:
        raise HTTPException(status_code=404, detail=(
            "recommendations are off: this index was not built from a recsys DATA_DIR "
            "(build one with `embedtune index build --corpus RECSYS_DATA_DIR ...`)"))
    start = time.perf_counter()
    from embedtune.recsys.recommend import UnknownUserError

    try:
        recommender = await run_in_threadpool(service.recommender)
        ranking = await run_in_threadpool(recommender.rank, user_id=body.user_id, history=body.history, k=body.k,
                                          mode=body.mode)
    except UnknownUserError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except EmbedtuneError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    items = [RecommendedItem(item_id=str(r.item_id), score=float(r.score), metadata=dict(r.metadata or {}))
             for r in ranking.items]
    return RecommendResponse(user_id=body.user_id, k=body.k, mode=ranking.mode, fallback=ranking.fallback,
                             results=items, took_ms=_ms_since(start))


@public.get("/health", tags=["ops"])
async def health(rt: RuntimeDep) -> dict[str, Any]:
    """Liveness and what is being served; ``search`` (and, on a recsys index, ``recommend_modes``) says which
    mode a request without one gets, and why."""
    service = rt.service
    state = service.state
    manifest = state.index.manifest
    return {"status": "ok", "documents": len(state.index), "model": manifest.model, "backend": state.encoder.backend,
            "dim": manifest.dim, "dtype": manifest.dtype, "ann": manifest.ann.kind if manifest.ann else "exact",
            "kind": manifest.kind, "recommend": service.recommend_enabled, "index_updated_at": manifest.updated_at,
            "loaded_at": state.loaded_at, "reloads": service.reloads, "auth": rt.api_key is not None,
            "search": state.modes.to_dict(),
            "recommend_modes": state.recommend_modes.to_dict() if state.recommend_modes else None}


@api.get("/metrics", tags=["ops"])
async def metrics(rt: RuntimeDep) -> Response:
    """Prometheus text format: request counts and latency per endpoint, batch sizes, index size."""
    return Response(generate_latest(rt.registry), media_type=CONTENT_TYPE_LATEST)


@api.post("/admin/reload", tags=["ops"])
async def reload(rt: RuntimeDep) -> dict[str, Any]:
    """Re-read the index folder now (it is also polled every ``reload_poll_s`` seconds)."""
    service = rt.service
    try:
        await run_in_threadpool(service.reload_if_changed, True)
    except Exception as exc:
        raise HTTPException(status_code=409, detail=f"reload failed, still serving the previous index: {exc}") from None
    return {"reloaded": True, "documents": len(service.state.index), "loaded_at": service.state.loaded_at}


@public.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@public.get("/widget.js", include_in_schema=False)
async def widget() -> FileResponse:
    return FileResponse(STATIC_DIR / "widget.js", media_type="application/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})
