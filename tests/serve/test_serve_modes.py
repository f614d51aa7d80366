"""Search modes over HTTP and on the command line: dense, lexical and hybrid; the default-mode rule
(fusion.json beating dense on dev -> hybrid, else dense); and the served ranking equal to the one
`embedtune eval` scores (BM25System + the dense model + fuse_runs with the same FusionSpec)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from embedtune.base_model import resolve_model_path
from embedtune.data import Document
from embedtune.data.beir import load_retrieval_split
from embedtune.errors import EmbedtuneError
from embedtune.eval.systems import BM25System, DenseSystem
from embedtune.fusion import FusionSpec, fuse_runs
from embedtune.index import VectorIndex, build_index
from embedtune.index.hybrid import choose_mode
from embedtune.serve.app import ServeSettings, create_app
from embedtune.serve.service import EmbedJob, SearchJob, SearchService

SPECS = {
    "wsum-zmuv": FusionSpec(method="wsum", norm="zmuv", weights={"model": 0.6, "bm25": 0.4},
                            dev_metric={"hybrid": 0.81, "model": 0.77, "bm25": 0.74}, split="dev", n_queries=3),
    "wsum-min-max": FusionSpec(method="wsum", norm="min-max", weights={"model": 0.3, "bm25": 0.7},
                               dev_metric={"hybrid": 0.80, "model": 0.79, "bm25": 0.70}, split="dev"),
    "rrf": FusionSpec(method="rrf", norm=None, rrf_k=60, weights={"model": 1.0, "bm25": 1.0},
                      dev_metric={"hybrid": 0.78, "model": 0.75, "bm25": 0.76}, split="dev"),
}


def model_dir(tmp_path: Path, spec: FusionSpec | None) -> Path:
    """A model folder as the index names it; the service is handed the encoder, so only fusion.json matters."""
    folder = tmp_path / "model"
    folder.mkdir(parents=True, exist_ok=True)
    if spec is not None:
        spec.save(folder / "fusion.json")
    return folder


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory, tiny_beir_maker, serve_encoder) -> tuple[Path, Path]:
    """(BEIR folder, index of its corpus) built with `index build`'s code path."""
    root = tmp_path_factory.mktemp("modes")
    data = tiny_beir_maker(root / "tiny")
    index = build_index("all-MiniLM-L6-v2", data, root / "index", ann="none", encoder=serve_encoder, show_progress=False)
    assert index.lexical is not None
    return data, root / "index"


def index_with_model(index: Path, folder: Path, tmp_path: Path) -> Path:
    """A copy of ``index`` whose manifest names ``folder`` as its model."""
    target = tmp_path / "index"
    shutil.copytree(index, target)
    manifest = json.loads((target / "index.json").read_text(encoding="utf-8"))
    manifest["model"] = str(folder.resolve())
    (target / "index.json").write_text(json.dumps(manifest), encoding="utf-8")
    return target


def client_for(index: Path, encoder, **settings) -> TestClient:
    return TestClient(create_app(ServeSettings(index=index, reload_poll_s=0, **settings), encoder=encoder))


@pytest.mark.parametrize("name", list(SPECS))
def test_served_ranking_equals_the_evaluated_ranking(name, tiny_index, tmp_path: Path, serve_encoder, base_model):
    data, index = tiny_index
    spec = SPECS[name]
    served_index = index_with_model(index, model_dir(tmp_path, spec), tmp_path)
    dense = DenseSystem("model", resolve_model_path("all-MiniLM-L6-v2"), model=base_model, use_cache=False)
    with client_for(served_index, serve_encoder) as client:
        assert client.get("/health").json()["search"]["default_mode"] == "hybrid"
        for split_name in ("train", "dev", "test"):
            split = load_retrieval_split(data, split_name)
            # evaluation's code path: each part's run, fused by the same function with the same spec
            runs = {"model": dense.rank(split, 100), "bm25": BM25System().rank(split, 100)}
            evaluated = {"hybrid": fuse_runs(spec, runs, k=10), "dense": runs["model"], "lexical": runs["bm25"]}
            for qid in split.query_ids:
                for mode, run in evaluated.items():
                    body = {"query": split.queries[qid], "k": 10} | ({} if mode == "hybrid" else {"mode": mode})
                    answer = client.post("/search", json=body).json()
                    assert answer["mode"] == mode
                    assert [r["id"] for r in answer["results"]] == [d for d, _ in run[qid][:10]], (mode, qid)
                    if mode != "dense":  # cosines differ in the last bits between the two encoders' batches
                        assert [r["score"] for r in answer["results"]] == pytest.approx([s for _, s in run[qid][:10]], abs=1e-6)


def test_default_mode_follows_the_fusion_json_dev_result(tiny_index, tmp_path: Path):
    _data, index = tiny_index
    loaded = VectorIndex.load(index)
    none = choose_mode(loaded)  # the bundled base model: no model folder, no fusion.json
    assert none.default == "dense" and "no fusion.json" in none.reason and none.fusion_source == "documented default"
    assert none.modes == ("dense", "lexical", "hybrid")

    beat = VectorIndex.load(index_with_model(index, model_dir(tmp_path / "a", SPECS["wsum-zmuv"]), tmp_path / "a"))
    choice = choose_mode(beat)
    assert choice.default == "hybrid" and "beat dense" in choice.reason and "0.8100 vs dense 0.7700" in choice.reason
    assert choice.fusion == SPECS["wsum-zmuv"] and choice.fusion_source.endswith("fusion.json")

    worse = SPECS["wsum-zmuv"].model_copy(update={"dev_metric": {"hybrid": 0.70, "model": 0.77, "bm25": 0.74}})
    lost = VectorIndex.load(index_with_model(index, model_dir(tmp_path / "b", worse), tmp_path / "b"))
    assert choose_mode(lost).default == "dense" and "did not beat" in choose_mode(lost).reason
    assert choose_mode(lost, "hybrid").default == "hybrid"  # serve --mode decides outright

    no_dev = SPECS["wsum-zmuv"].model_copy(update={"dev_metric": {}, "default": True, "rule": "default"})
    unknown = VectorIndex.load(index_with_model(index, model_dir(tmp_path / "c", no_dev), tmp_path / "c"))
    assert choose_mode(unknown).default == "dense" and "no dev result" in choose_mode(unknown).reason

    recsys = FusionSpec(weights={"text": 0.5, "cooc": 0.3, "popularity": 0.2}, dev_metric={"hybrid": 0.9, "text": 0.1})
    other = VectorIndex.load(index_with_model(index, model_dir(tmp_path / "d", recsys), tmp_path / "d"))
    assert choose_mode(other).default == "dense" and "not one dense model with bm25" in choose_mode(other).reason


def test_health_says_which_mode_and_why_and_requests_follow_it(tiny_index, tmp_path: Path, serve_encoder):
    _data, index = tiny_index
    with client_for(index, serve_encoder) as client:
        search = client.get("/health").json()["search"]
        assert search["default_mode"] == "dense" and "no fusion.json" in search["why"]
        assert search["modes"] == ["dense", "lexical", "hybrid"] and search["fusion_source"] == "documented default"
        assert client.post("/search", json={"query": "invoices", "k": 3}).json()["mode"] == "dense"
        assert client.post("/search", json={"query": "invoices", "k": 3, "mode": "hybrid"}).json()["mode"] == "hybrid"
    with client_for(index, serve_encoder, mode="lexical") as client:
        assert client.get("/health").json()["search"] | {"fusion": None} == {
            "default_mode": "lexical", "why": "set by --mode", "modes": ["dense", "lexical", "hybrid"],
            "fusion": None, "fusion_source": "documented default"}
        answer = client.post("/search", json={"query": "Where do I download invoices?", "k": 3}).json()
        assert answer["mode"] == "lexical" and answer["results"][0]["id"] == "billing-2"


@pytest.mark.parametrize("mode", ["semantic", "", "HYBRID", 1, ["dense"]])
def test_a_bad_mode_is_422_naming_the_field(session_index, serve_encoder, mode):
    with client_for(session_index, serve_encoder) as client:
        resp = client.post("/search", json={"query": "export notes", "mode": mode})
    assert resp.status_code == 422
    assert [e["loc"] for e in resp.json()["detail"]] == [["body", "mode"]]


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_filters_apply_in_every_mode(session_index, serve_encoder, mode):
    with client_for(session_index, serve_encoder) as client:
        body = {"query": "export all notes as markdown", "k": 5, "filters": {"lang": "de"}, "mode": mode}
        resp = client.post("/search", json=body)
    assert resp.status_code == 200 and [r["id"] for r in resp.json()["results"]] == ["export-de"]


def test_an_index_without_a_lexical_part_serves_dense_and_refuses_the_others(session_index, tmp_path: Path, serve_encoder):
    old = tmp_path / "old"
    shutil.copytree(session_index, old)
    shutil.rmtree(old / "bm25")
    manifest = json.loads((old / "index.json").read_text(encoding="utf-8"))
    manifest.pop("lexical")
    (old / "index.json").write_text(json.dumps(manifest), encoding="utf-8")
    with client_for(old, serve_encoder) as client:
        search = client.get("/health").json()["search"]
        assert search["default_mode"] == "dense" and search["modes"] == ["dense"] and "no lexical part" in search["why"]
        assert client.post("/search", json={"query": "export notes", "k": 2}).status_code == 200
        for mode in ("lexical", "hybrid"):
            resp = client.post("/search", json={"query": "export notes", "mode": mode})
            assert resp.status_code == 422
            [error] = resp.json()["detail"]
            assert error["loc"] == ["body", "mode"] and "rebuild it with `embedtune index build`" in error["msg"]
    with pytest.raises(EmbedtuneError, match="--mode hybrid: the index has no lexical part"):
        create_app(ServeSettings(index=old, reload_poll_s=0, mode="hybrid"), encoder=serve_encoder)


def test_a_batch_of_mixed_modes_gives_each_job_its_own_ranking(session_index, serve_encoder):
    service = SearchService(ServeSettings(index=session_index, reload_poll_s=0), encoder=serve_encoder)
    queries = ["replace my payment card", "turn on two-factor authentication", "print a notebook"]
    jobs = [SearchJob(q, 2 + i % 3, None, mode) for i, q in enumerate(queries) for mode in ("dense", "lexical", "hybrid", None)]
    jobs.append(SearchJob(queries[0], 4, {"lang": "en"}, "lexical"))
    jobs.append(EmbedJob([queries[1]]))
    together = service.run_batch(jobs)
    for job, result in zip(jobs, together, strict=True):
        alone = service.run_batch([job])[0]
        if isinstance(job, EmbedJob):
            assert result.shape == (1, 384)
            continue
        assert [h.id for h in result] == [h.id for h in alone] and len(result) == min(job.k, 8)


def test_cli_search_mode(tiny_index, serve_encoder):
    import typer

    from embedtune.cli import serve as serve_cli
    from embedtune.index.hybrid import search

    _data, index = tiny_index
    app = typer.Typer()
    serve_cli.register(app)
    loaded = VectorIndex.load(index)
    query = "Where do I download invoices?"
    fusion = choose_mode(loaded).fusion
    for mode in ("dense", "lexical", "hybrid"):
        expected = search(loaded, [query], serve_encoder.encode([query]), 3, mode, fusion=fusion)[0]
        result = CliRunner().invoke(app, ["search", str(index), query, "-k", "3", "--mode", mode, "--json", "--quiet"],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        hits = [json.loads(line) for line in result.stdout.splitlines()]
        assert [h["id"] for h in hits] == [h.id for h in expected], mode
        assert [h["score"] for h in hits] == pytest.approx([h.score for h in expected], abs=1e-5)
    said = CliRunner().invoke(app, ["search", str(index), query, "-k", "1"], catch_exceptions=False)
    assert "mode: dense (the model folder has no fusion.json" in said.stderr
    bad = CliRunner().invoke(app, ["search", str(index), query, "--mode", "fuzzy"])
    assert bad.exit_code == 2 and "--mode" in bad.output and "dense, lexical, hybrid" in bad.output


def test_a_broken_fusion_json_is_one_error_naming_the_file(tiny_index, tmp_path: Path, serve_encoder):
    from embedtune.errors import DataError

    _data, index = tiny_index
    folder = model_dir(tmp_path, None)
    (folder / "fusion.json").write_text('{"method": "wsum", "weights": {"model": 1.0}}', encoding="utf-8")
    with pytest.raises(DataError, match=r"fusion\.json.*at least two parts"):
        create_app(ServeSettings(index=index_with_model(index, folder, tmp_path), reload_poll_s=0), encoder=serve_encoder)


def test_an_index_built_for_an_expanded_fusion_serves_the_evaluated_ranking(tiny_index, tmp_path: Path,
                                                                            serve_encoder, base_model):
    """fusion.json chose BM25 over documents plus their training queries: `index build` from the DATA_DIR indexes
    the same texts, serves hybrid by default and answers as evaluation ranks; a plain index for it serves dense."""
    from embedtune.data.expansion import training_expansions
    from embedtune.fusion import LexicalExpansion

    data, plain_index = tiny_index
    spec = SPECS["wsum-zmuv"].model_copy(update={"expansion": LexicalExpansion(queries=9, documents=9)})
    folder = tmp_path / "model"  # a model folder: the bundled model's files, and this fusion.json
    folder.mkdir()
    for item in resolve_model_path("all-MiniLM-L6-v2").iterdir():
        (folder / item.name).symlink_to(item)
    spec.save(folder / "fusion.json")
    built = build_index(folder, data, tmp_path / "index", ann="none", encoder=serve_encoder, show_progress=False)
    expansions = training_expansions(data)
    assert built.lexical.expansions == expansions and len(expansions) == 9
    loaded = VectorIndex.load(tmp_path / "index")
    assert (loaded.manifest.lexical.expansion_queries, loaded.manifest.lexical.expansion_documents) == (9, 9)
    assert choose_mode(loaded).default == "hybrid"
    plain = choose_mode(VectorIndex.load(index_with_model(plain_index, folder, tmp_path / "plain")))
    assert plain.default == "dense" and "does not" in plain.reason

    dense = DenseSystem("model", resolve_model_path("all-MiniLM-L6-v2"), model=base_model, use_cache=False)
    with client_for(tmp_path / "index", serve_encoder) as client:
        for split_name in ("train", "dev", "test"):
            split = load_retrieval_split(data, split_name)
            runs = {"model": dense.rank(split, 100), "bm25": BM25System(expansions=expansions).rank(split, 100)}
            evaluated = {"hybrid": fuse_runs(spec, runs, k=10), "lexical": runs["bm25"]}
            for qid in split.query_ids:
                for mode, run in evaluated.items():
                    answer = client.post("/search", json={"query": split.queries[qid], "k": 10, "mode": mode}).json()
                    assert [r["id"] for r in answer["results"]] == [d for d, _ in run[qid][:10]], (mode, qid)

    # an update of an expanded document keeps its training queries (the new text shares no word with them)
    updated = Document(id="billing-0", title="", text="Payment settings live there.")
    loaded.add([updated], serve_encoder.encode([updated.full_text]))
    assert loaded.search_lexical(["update the credit card on my account"], k=1)[0][0].id == "billing-0"
    loaded.save(tmp_path / "index")
    assert VectorIndex.load(tmp_path / "index").lexical.expansions == expansions
