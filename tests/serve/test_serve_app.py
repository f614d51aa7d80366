"""The HTTP service: each endpoint's happy path, limits, auth, micro-batching and hot reload."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from embedtune.data import Document
from embedtune.index import VectorIndex
from embedtune.serve.app import ServeSettings, create_app
from embedtune.serve.batcher import MicroBatcher


def make_client(index: Path, encoder, **overrides) -> TestClient:
    settings = ServeSettings(index=index, reload_poll_s=overrides.pop("reload_poll_s", 0), **overrides)
    return TestClient(create_app(settings, encoder=encoder))


@pytest.fixture
def client(session_index, serve_encoder):
    with make_client(session_index, serve_encoder) as c:
        yield c


def test_search_ranks_the_answer_first(client: TestClient):
    resp = client.post("/search", json={"query": "how can I get my money back for a yearly subscription?", "k": 3})
    assert resp.status_code == 200
    body = resp.json()
    assert [r["id"] for r in body["results"]][0] == "billing-refund"
    assert len(body["results"]) == 3
    top = body["results"][0]
    assert top["url"] == "https://help.example.com/billing-refund" and top["title"] == "Refunds"
    assert 0 < top["score"] <= 1 and body["results"][1]["score"] <= top["score"]


def test_search_filters_on_metadata(client: TestClient):
    resp = client.post("/search", json={"query": "export all notes as markdown", "k": 5, "filters": {"lang": "de"}})
    assert resp.status_code == 200
    assert [r["id"] for r in resp.json()["results"]] == ["export-de"]


def test_embed_returns_the_models_vectors(client: TestClient, serve_encoder):
    texts = ["reset my password", "export notes"]
    resp = client.post("/embed", json={"texts": texts})
    assert resp.status_code == 200
    body = resp.json()
    assert body["dim"] == 384 and len(body["embeddings"]) == 2
    got = np.array(body["embeddings"], dtype=np.float32)
    expected = serve_encoder.encode(texts)
    assert np.allclose(np.sum(got * expected, axis=1), 1.0, atol=1e-4)


def test_health_openapi_page_and_widget(client: TestClient):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["documents"] == 8 and health["recommend"] is False
    spec = client.get("/openapi.json").json()
    assert {"/search", "/embed", "/recommend", "/health", "/metrics"} <= set(spec["paths"])
    schema = spec["components"]["schemas"]["SearchRequest"]["properties"]
    assert schema["k"]["maximum"] == 100 and schema["query"]["maxLength"] == 2000
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"] and 'id="query"' in page.text
    widget = client.get("/widget.js")
    assert "javascript" in widget.headers["content-type"] and "textContent" in widget.text
    assert ".innerHTML" not in widget.text and ".innerHTML" not in client.get("/static/app.js").text


def test_metrics_in_prometheus_format(client: TestClient):
    client.post("/search", json={"query": "print a notebook", "k": 1})
    text = client.get("/metrics").text
    assert 'embedtune_requests_total{endpoint="/search",status="200"} 1.0' in text
    assert "embedtune_index_documents 8.0" in text
    assert "embedtune_batch_size_count" in text


@pytest.mark.parametrize(
    ("path", "payload", "needle"),
    [
        ("/search", {"query": "x" * 2001}, "at most 2000 characters"),
        ("/search", {"query": "ok", "k": 101}, "less than or equal to 100"),
        ("/search", {"query": "   "}, "query is blank"),
        ("/search", {"query": "ok", "unknown": 1}, "Extra inputs are not permitted"),
        ("/embed", {"texts": ["t"] * 65}, "at most 64 items"),
        ("/embed", {"texts": ["a", "y" * 8001]}, "texts[1] has 8001 characters"),
        ("/recommend", {"user_id": "u1", "history": ["a"]}, "exactly one of user_id"),
    ],
)
def test_limits_give_422_with_a_clear_message(client: TestClient, path: str, payload: dict, needle: str):
    resp = client.post(path, json=payload)
    assert resp.status_code == 422
    assert needle in str(resp.json()["detail"])


def test_body_over_the_limit_gives_413(session_index, serve_encoder):
    with make_client(session_index, serve_encoder, max_body_bytes=2_000) as c:
        resp = c.post("/embed", json={"texts": ["word " * 100] * 5})
        assert resp.status_code == 413 and "2,000-byte limit" in resp.json()["detail"]

        def chunks():  # no Content-Length: the limit still holds while streaming
            for _ in range(10):
                yield b" " * 500

        streamed = c.post("/embed", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert c.post("/search", json={"query": "refund"}).status_code == 200


def test_api_key_guards_the_api(session_index, serve_encoder, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EMBEDTUNE_API_KEY", "s3cret")
    with make_client(session_index, serve_encoder) as c:
        assert c.post("/search", json={"query": "refund"}).status_code == 401
        wrong = c.post("/search", json={"query": "refund"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "API key" in wrong.json()["detail"]
        assert c.post("/search", json={"query": "refund"}, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.post("/embed", json={"texts": ["a"]}, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/metrics").status_code == 401
        health = c.get("/health")  # open, so load balancers can probe it
        assert health.status_code == 200 and health.json()["auth"] is True


def test_cors_allows_only_configured_origins(session_index, serve_encoder):
    with make_client(session_index, serve_encoder, cors_origins=["https://docs.example.com"]) as c:
        ok = c.options("/search", headers={"Origin": "https://docs.example.com", "Access-Control-Request-Method": "POST"})
        assert ok.headers.get("access-control-allow-origin") == "https://docs.example.com"
        bad = c.options("/search", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in bad.headers


def test_recommend_is_404_for_a_non_recsys_index(client: TestClient):
    resp = client.post("/recommend", json={"user_id": "u1"})
    assert resp.status_code == 404 and "recsys DATA_DIR" in resp.json()["detail"]


class CountingEncoder:
    """Deterministic fake: a text's vector depends only on the text; records each call's size."""

    backend = "fake"

    def __init__(self, dim: int = 384, delay: float = 0.05):
        self.dim, self.delay, self.calls = dim, delay, []

    def encode(self, texts, batch_size=32, show_progress=False):
        import time

        self.calls.append(len(texts))
        time.sleep(self.delay)
        out = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(self.dim) for t in texts]).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_concurrent_requests_are_batched_and_each_gets_its_own_result(session_index):
    encoder = CountingEncoder()
    app = create_app(ServeSettings(index=session_index, reload_poll_s=0, batch_wait_ms=20), encoder=encoder)
    queries = [f"question number {i}" for i in range(16)]

    async def main():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                searches = [c.post("/search", json={"query": q, "k": 2 + i % 3}) for i, q in enumerate(queries)]
                embeds = [c.post("/embed", json={"texts": [q, q + "!"]}) for q in queries[:4]]
                return await asyncio.gather(*searches, *embeds)

    responses = asyncio.run(main())
    assert all(r.status_code == 200 for r in responses)
    assert sum(encoder.calls) == 16 + 8 and len(encoder.calls) < 6  # 20 requests, a handful of encoder calls
    index = VectorIndex.load(session_index)
    for i, (q, resp) in enumerate(zip(queries, responses[:16], strict=True)):
        expected = [h.id for h in index.search(encoder.encode([q]), k=2 + i % 3)[0]]
        body = resp.json()
        assert body["query"] == q and [r["id"] for r in body["results"]] == expected
    for q, resp in zip(queries[:4], responses[16:], strict=True):
        assert np.allclose(resp.json()["embeddings"], encoder.encode([q, q + "!"]), atol=1e-6)


def test_microbatcher_fails_only_the_bad_job_and_keeps_going():
    calls: list[list[str]] = []

    def fn(items):
        calls.append(list(items))
        if "boom" in items:
            raise ValueError("bad batch")
        return [x.upper() for x in items]

    async def main():
        batcher = MicroBatcher(fn, max_batch=8, max_wait_ms=10)
        await batcher.start()
        first = await asyncio.gather(batcher.submit("a"), batcher.submit("boom"), batcher.submit("z"),
                                     return_exceptions=True)
        second = await asyncio.gather(batcher.submit("b"), batcher.submit("c"))
        await batcher.stop()
        return first, second

    first, second = asyncio.run(main())
    assert first[0] == "A" and isinstance(first[1], ValueError) and first[2] == "Z"
    assert calls[0] == ["a", "boom", "z"]  # batched, then each run alone
    assert second == ["B", "C"]


def test_hot_reload_picks_up_a_new_index_without_failed_requests(index_copy: Path, serve_encoder):
    with make_client(index_copy, serve_encoder, reload_poll_s=0.05) as c:
        assert "new-doc" not in [r["id"] for r in c.post("/search", json={"query": "carrier pigeon delivery", "k": 8}).json()["results"]]
        statuses: list[int] = []
        stop = threading.Event()

        def hammer():
            while not stop.is_set():
                statuses.append(c.post("/search", json={"query": "carrier pigeon delivery", "k": 3}).status_code)

        worker = threading.Thread(target=hammer)
        worker.start()
        try:
            for round_ in range(3):
                index = VectorIndex.load(index_copy)
                doc = Document(id="new-doc", title="Pigeons", text=f"Notes can be delivered by carrier pigeon, round {round_}.")
                index.add([doc], serve_encoder.encode([doc.full_text]))
                index.save(index_copy)
                deadline = threading.Event()
                for _ in range(100):
                    if c.get("/health").json()["reloads"] > round_:
                        break
                    deadline.wait(0.05)
        finally:
            stop.set()
            worker.join()
        health = c.get("/health").json()
        assert health["reloads"] >= 3 and health["documents"] == 9
        top = c.post("/search", json={"query": "carrier pigeon delivery", "k": 1}).json()["results"][0]
        assert top["id"] == "new-doc" and "round 2" in top["text"]
    assert statuses and set(statuses) == {200}


def test_broken_index_on_disk_keeps_serving_the_previous_one(index_copy: Path, serve_encoder):
    with make_client(index_copy, serve_encoder) as c:
        (index_copy / "index.json").write_text("{not json", encoding="utf-8")
        resp = c.post("/admin/reload")
        assert resp.status_code == 409 and "previous index" in resp.json()["detail"]
        assert c.post("/search", json={"query": "refund", "k": 1}).status_code == 200


def test_reload_waits_for_a_writer_and_never_loads_a_half_written_index(index_copy: Path, serve_encoder):
    """A writer holds the index's lock from load to save; a poll meanwhile skips its turn instead of
    reading the folder half-way through (here: a manifest that no longer matches the vectors)."""
    from embedtune.fileio import dir_lock
    from embedtune.serve.app import SearchService

    service = SearchService(ServeSettings(index=index_copy, reload_poll_s=0), encoder=serve_encoder)
    manifest = json.loads((index_copy / "index.json").read_text())

    def poll() -> list:
        outcome: list = []
        thread = threading.Thread(target=lambda: outcome.append(service.reload_if_changed()))
        thread.start()
        thread.join()
        return outcome

    with dir_lock(index_copy):
        (index_copy / "index.json").unlink()  # a writer mid-way: new manifest, old vectors
        (index_copy / "index.json").write_text(json.dumps({**manifest, "rows": 9, "live": 9}))
        assert poll() == [False] and service.reloads == 0 and len(service.state.index) == 8
        (index_copy / "index.json").unlink()
        (index_copy / "index.json").write_text(json.dumps({**manifest, "live": 8}))  # done: consistent again
    assert poll() == [True] and service.reloads == 1 and len(service.state.index) == 8


# ---- issue 16: bad input is a 422 for its own request only ------------------------------------------
@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        ("/embed", '{"texts": ["fine", "a \\udc00 b"]}', ["body", "texts", 1]),
        ("/search", '{"query": "a \\ud800 b"}', ["body", "query"]),
        ("/search", '{"query": "ok", "filters": {"lang": "\\udfff"}}', ["body", "filters", "lang"]),
        ("/recommend", '{"user_id": "\\udc00"}', ["body", "user_id"]),
        ("/recommend", '{"history": ["i1", "\\udc00"]}', ["body", "history", 1]),
    ],
)
def test_lone_surrogates_are_a_422_naming_the_field(client: TestClient, path: str, raw: str, field: list):
    resp = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 422
    [error] = [e for e in resp.json()["detail"] if "lone surrogate" in e["msg"]]
    assert error["loc"][: len(field)] == field and "\\ud" in error["msg"]


@pytest.mark.parametrize("k", ["3", True, 3.0, None])
def test_types_are_strict(client: TestClient, k):
    resp = client.post("/search", json={"query": "refund", "k": k})
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "k"]
    assert client.post("/recommend", json={"user_id": 42}).status_code == 422
    assert client.post("/embed", json={"texts": [1, 2]}).status_code == 422


def test_a_huge_input_is_not_echoed_back_whole(client: TestClient):
    resp = client.post("/search", json={"query": "x" * 900_000})
    assert resp.status_code == 422 and len(resp.content) < 2_000
    assert "900,000 characters" in resp.json()["detail"][0]["input"]
    resp = client.post("/embed", json={"texts": ["y" * 9_000] * 80})
    assert resp.status_code == 422 and len(resp.content) < 5_000


class ChokingEncoder(CountingEncoder):
    """Fails any encoder call that includes the text "choke" (as a tokenizer would on bad input)."""

    def encode(self, texts, batch_size=32, show_progress=False):
        if any("choke" in t for t in texts):
            raise RuntimeError("the tokenizer choked")
        return super().encode(texts)


def test_one_failing_job_does_not_fail_the_others_in_its_batch(session_index):
    app = create_app(ServeSettings(index=session_index, reload_poll_s=0, batch_wait_ms=50), encoder=ChokingEncoder(delay=0.05))

    async def main():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                jobs = [c.post("/search", json={"query": f"question {i}"}) for i in range(6)]
                jobs.insert(3, c.post("/search", json={"query": "choke on this"}))
                jobs.append(c.post("/embed", json={"texts": ["fine", "choke"]}))
                return await asyncio.gather(*jobs)

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200, 200, 200, 500, 200, 200, 200, 500]


def test_reload_of_an_index_missing_a_file_is_a_409(index_copy: Path, serve_encoder):
    with make_client(index_copy, serve_encoder) as c:
        (index_copy / "vectors.npy").unlink()
        resp = c.post("/admin/reload")
        assert resp.status_code == 409 and "vectors.npy is missing" in resp.json()["detail"]
        assert c.post("/search", json={"query": "refund", "k": 1}).status_code == 200


def test_a_broken_index_is_logged_once_per_version_without_a_traceback(index_copy: Path, serve_encoder, caplog):
    from embedtune.serve.app import SearchService

    service = SearchService(ServeSettings(index=index_copy, reload_poll_s=0), encoder=serve_encoder)
    (index_copy / "index.json").unlink()
    (index_copy / "index.json").write_text("{not json", encoding="utf-8")
    with caplog.at_level("ERROR", logger="embedtune.serve"):
        for _ in range(5):  # five polls
            with contextlib.suppress(Exception):
                service.reload_if_changed()
    records = [r for r in caplog.records if "reload failed" in r.getMessage()]
    assert len(records) == 1 and records[0].exc_info is None and "index.json" in records[0].getMessage()


def test_an_empty_api_key_is_refused(session_index, monkeypatch: pytest.MonkeyPatch):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="API key is empty"):
        ServeSettings(index=session_index, api_key="")
    monkeypatch.setenv("EMBEDTUNE_API_KEY", " ")
    with pytest.raises(ValidationError, match="API key is empty"):
        ServeSettings(index=session_index)


def test_the_server_starts_on_an_index_a_killed_writer_left_mid_swap(index_copy: Path, serve_encoder):
    """Where the swap takes two renames, a kill between them leaves INDEX as .INDEX.*.old: the
    server puts it back instead of saying there is no index."""
    from embedtune.serve.app import SearchService

    index_copy.rename(index_copy.parent / f".{index_copy.name}.x1.old")
    service = SearchService(ServeSettings(index=index_copy, reload_poll_s=0), encoder=serve_encoder)
    assert len(service.state.index) == 8 and (index_copy / "index.json").is_file()
