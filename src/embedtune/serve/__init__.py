"""The HTTP service over an index: FastAPI app (:mod:`.app`), micro-batching (:mod:`.batcher`), web page and widget (``static/``)."""

from embedtune.serve.app import ServeSettings, create_app

__all__ = ["ServeSettings", "create_app"]
