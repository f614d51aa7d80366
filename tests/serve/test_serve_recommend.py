"""POST /recommend on an index built from a recsys DATA_DIR: the index's own vectors, the encoder the server
runs (the index's backend, or --backend), the modes text / cooccurrence / hybrid, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import embedtune.encoders
import embedtune.eval.systems
from embedtune.fusion import FusionSpec
from embedtune.serve.app import ServeSettings, create_app
from tests.recsys.conftest import TINY_ITEMS, TINY_LOG, FakeEncoder, build_shop_index, write


@pytest.fixture
def shop_index(tmp_path: Path) -> Path:
    tiny_shop = write(tmp_path / "log.csv", TINY_LOG), write(tmp_path / "items.csv", TINY_ITEMS)
    return build_shop_index(tiny_shop, tmp_path)[1]


@pytest.fixture
def encoders(monkeypatch: pytest.MonkeyPatch) -> list[FakeEncoder]:
    """Every encoder the server loads (a FakeEncoder of the backend asked for); re-encoding the catalog
    through the evaluator's DenseSystem fails the test."""
    loaded: list[FakeEncoder] = []

    def load_encoder(model, backend, **kwargs):
        loaded.append(FakeEncoder(backend))
        return loaded[-1]

    class NoDenseSystem:
        def __init__(self, *args, **kwargs):
            raise AssertionError("/recommend must rank the index's vectors, not re-encode the catalog")

    monkeypatch.setattr(embedtune.encoders, "load_encoder", load_encoder)
    monkeypatch.setattr(embedtune.eval.systems, "DenseSystem", NoDenseSystem)
    return loaded


def client(index: Path, **settings) -> TestClient:
    return TestClient(create_app(ServeSettings(index=index, reload_poll_s=0, **settings)))


@pytest.mark.parametrize("backend", [None, "openvino"])
def test_recommend_ranks_the_index_vectors_with_the_servers_encoder(shop_index, encoders, backend):
    with client(shop_index, backend=backend) as c:
        resp = c.post("/recommend", json={"history": ["i4"], "k": 3, "mode": "text"})
        assert resp.status_code == 200, resp.text
        body = resp.json()
    # The profile points at i2 under FakeEncoder; by the index's vectors i2, i5, i1 (MiniLM puts the cap i5 first).
    assert [r["item_id"] for r in body["results"]] == ["i2", "i5", "i1"]
    assert body["mode"] == "text" and body["fallback"] is None
    assert body["results"][0]["metadata"]["item_title"] == "Superstar"
    assert [e.backend for e in encoders] == [backend or "onnx-int8"]  # the index's backend unless --backend
    assert encoders[0].queries == 1


def test_each_mode_the_default_and_the_fallback(shop_index, encoders):
    with client(shop_index) as c:
        health = c.get("/health").json()
        assert health["recommend"] is True
        modes = health["recommend_modes"]
        assert modes["default_mode"] == "text" and "no fusion.json" in modes["why"]
        assert modes["modes"] == ["text", "cooccurrence", "hybrid"]
        default = c.post("/recommend", json={"user_id": "u2", "k": 2}).json()
        assert default["mode"] == "text" and default["user_id"] == "u2"
        for mode in ("cooccurrence", "hybrid"):
            body = c.post("/recommend", json={"history": ["i1"], "k": 3, "mode": mode}).json()
            assert body["mode"] == mode and body["fallback"] is None and "i1" not in [r["item_id"] for r in body["results"]]
        cooccurring = c.post("/recommend", json={"history": ["i1"], "k": 3, "mode": "cooccurrence"}).json()
        assert cooccurring["results"][0]["item_id"] == "i2"  # u1 met i1 and i2 in training
        # i5: in the catalog, nobody met it in training: the text tower answers, and says why.
        unseen = c.post("/recommend", json={"history": ["i5"], "k": 2, "mode": "hybrid"}).json()
        assert unseen["mode"] == "text" and "co-occurrence statistics" in unseen["fallback"]
        assert [r["item_id"] for r in unseen["results"]] == ["i2", "i1"]


def test_fusion_json_that_beat_the_text_tower_makes_hybrid_the_default(shop_index, encoders):
    FusionSpec(weights={"model": 0.6, "cooccurrence": 0.3, "popularity": 0.1}, split="dev", n_queries=2,
               dev_metric={"hybrid": 0.5, "model": 0.3}).save(shop_index / "recsys" / "fusion.json")
    with client(shop_index) as c:
        modes = c.get("/health").json()["recommend_modes"]
        assert modes["default_mode"] == "hybrid" and "hybrid beat the text tower" in modes["why"]
        assert modes["fusion_source"] == str(shop_index / "recsys" / "fusion.json")
        assert c.post("/recommend", json={"history": ["i1"], "k": 2}).json()["mode"] == "hybrid"


def test_bad_requests_are_clear_errors(shop_index, encoders):
    with client(shop_index) as c:
        bad_mode = c.post("/recommend", json={"history": ["i1"], "mode": "popular"})
        assert bad_mode.status_code == 422
        assert bad_mode.json()["detail"][0]["loc"] == ["body", "mode"] and "hybrid" in bad_mode.json()["detail"][0]["msg"]
        ghost = c.post("/recommend", json={"user_id": "ghost"})
        assert ghost.status_code == 404 and "unknown user 'ghost'" in ghost.json()["detail"]
        unknown = c.post("/recommend", json={"history": ["i1", "zz"]})
        assert unknown.status_code == 422 and "unknown item ids in the history: zz" in unknown.json()["detail"]
