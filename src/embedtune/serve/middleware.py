"""Plain ASGI middleware of the service: a request-body size limit and per-endpoint metrics."""

from __future__ import annotations

import time
from typing import Any

from fastapi.responses import JSONResponse


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
