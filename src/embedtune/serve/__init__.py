"""The HTTP service over an index: the FastAPI app (:mod:`.app`: settings, schemas, service, routes,
middleware) with micro-batching (:mod:`.batcher`), a web page and a widget (``static/``)."""

from embedtune.serve.app import ServeSettings, create_app

__all__ = ["ServeSettings", "create_app"]
