"""The HTTP API against its own OpenAPI schema (schemathesis): whatever a client sends, valid or not,
the answer is never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")

import numpy as np  # noqa: E402

from embedtune.serve.app import ServeSettings, create_app  # noqa: E402


class HashEncoder:
    """A fast stand-in for the model: a unit vector seeded by the text (any text, any length)."""

    backend, dim = "fake", 384

    def encode(self, texts, batch_size=32, show_progress=False):
        rows = [np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(self.dim) for t in texts]
        v = np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def client(session_index):
    app = create_app(ServeSettings(index=session_index, reload_poll_s=0), encoder=HashEncoder())
    with TestClient(app) as c:  # the lifespan starts the micro-batcher
        yield c


def _operations(client: TestClient) -> list:
    # from_dict, not from_asgi: loading over ASGI would run the app's lifespan a second time, in
    # another event loop, and stop the micro-batcher this client's requests go to.
    schema = schemathesis.openapi.from_dict(client.app.openapi())
    return [result.ok() for result in schema.get_all_operations()]


def test_the_schema_covers_every_endpoint(client):
    assert {op.path for op in _operations(client)} >= {"/search", "/embed", "/recommend", "/health", "/metrics", "/admin/reload"}


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_request_is_a_server_error(client, mode):
    """Schema-valid requests (positive) and schema-breaking ones (negative) for every operation."""
    generation = schemathesis.GenerationMode(mode)
    for operation in _operations(client):
        if mode == "negative" and not len(operation.body):
            continue  # nothing in a GET without parameters can be made invalid

        @given(case=operation.as_strategy(generation_mode=generation))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
        def check(case):
            kwargs = case.as_transport_kwargs()
            sent = {k: v for k, v in kwargs.items() if k in ("method", "url", "headers", "params", "json", "content", "cookies")}
            response = client.request(**sent)
            assert response.status_code < 500, (sent, response.text[:300])

        check()
