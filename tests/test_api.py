"""The facade at ``embedtune``: one import, paths or objects in, the same results as the stage modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import embedtune
from embedtune.config import TrainConfig
from embedtune.errors import EmbedtuneError


def test_import_embedtune_is_light_and_exports_the_facade():
    code = "import sys, embedtune; print('torch' in sys.modules, sorted(embedtune.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("False")  # the facade loads on first use, not on import
    for name in ("Index", "build_recsys", "build_site", "evaluate", "recommend", "train"):
        assert name in out and callable(getattr(embedtune, name))
        assert "Example::" in getattr(embedtune, name).__doc__
    with pytest.raises(AttributeError):
        embedtune.no_such_thing  # noqa: B018


def test_train_takes_a_config_a_recipe_or_settings(monkeypatch, tmp_path):
    seen: list[TrainConfig] = []
    monkeypatch.setattr("embedtune.training.train", lambda cfg, show_progress=True: seen.append(cfg) or cfg)
    embedtune.train(data="d", output=tmp_path / "a", epochs=2)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("lr: 1.0e-4\nepochs: 3\n")
    embedtune.train(recipe, data="d", output=tmp_path / "b", epochs=4)
    embedtune.train(TrainConfig(data=["d"], output=tmp_path / "c"), lr=2e-5)
    assert [c.epochs for c in seen] == [2, 4, 1]
    assert seen[1].lr == 1e-4 and seen[2].lr == 2e-5
    with pytest.raises(Exception, match="lr"):
        embedtune.train(TrainConfig(data=["d"], output=tmp_path / "c"), lr=-1.0)  # overrides are validated


def test_evaluate_takes_a_path_or_a_loaded_model_with_the_same_result(tiny_beir, base_model):
    by_name = embedtune.evaluate("all-MiniLM-L6-v2", tiny_beir, "test", hybrid=False, n_resamples=200)
    by_object = embedtune.evaluate(base_model, tiny_beir, "test", hybrid=False, n_resamples=200)
    assert by_name.systems["model"].metrics == pytest.approx(by_object.systems["model"].metrics)
    assert set(by_name.systems) == {"model", "base", "bm25", "bm25_expanded"}  # its training questions are real


def test_index_builds_searches_by_text_and_updates(tiny_beir, tmp_path):
    index = embedtune.Index.build("all-MiniLM-L6-v2", tiny_beir, tmp_path / "ix")
    hits = index.search("How do I turn on two-factor authentication?", k=3)
    assert hits[0].id.startswith("security-") and len(hits) == 3
    assert [h.id for h in index.search(["export my notes", "refund"], k=1, mode="lexical")[0]] == ["export-0"]
    assert index.default_mode in ("dense", "hybrid")
    n = len(index)
    (tmp_path / "more.jsonl").write_text('{"_id": "new-1", "title": "Dark mode", "text": "Switch to the dark theme in Appearance."}\n')
    assert index.add(tmp_path / "more.jsonl") == (1, 0)
    assert index.search("dark theme", k=1)[0].id == "new-1"
    assert index.delete(["new-1", "missing"]) == 1 and len(index) == n
    assert embedtune.Index.open(tmp_path / "ix").search("dark theme", k=1)[0].id != "new-1"
    with pytest.raises(EmbedtuneError):
        index.search("   ")


def test_recommend_refuses_k_below_one_before_loading(tmp_path: Path):
    with pytest.raises(EmbedtuneError, match="k must be at least 1"):
        embedtune.recommend(tmp_path / "no-model", tmp_path / "no-data", user="1", k=0)
