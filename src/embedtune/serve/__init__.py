"""The HTTP service over an index: the FastAPI app (:mod:`.app`: settings, schemas, service, routes,
middleware) with micro-batching (:mod:`.batcher`), a web page and a widget (``static/``)."""

from __future__ import annotations

from typing import Any

from embedtune.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    # FastAPI is imported on first use, not by every `embedtune` command (the CLI reads ServeSettings for its flags).
    if name == "create_app":
        from embedtune.serve.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
