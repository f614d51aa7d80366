"""The demo's site path end to end on a small page set: build → train → evaluate → search."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner


@pytest.mark.slow
def test_site_build_train_eval_search(site_pages, site_questions, tmp_path):
    from embedtune.cli import app

    runner = CliRunner()

    def embedtune(*args):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
        return result.output

    data, model = tmp_path / "data", tmp_path / "model"
    embedtune("site", "build", site_pages, "-o", data, "--url", "https://inkpad.example/",
              "--questions", site_questions, "--quiet")
    embedtune("train", "--data", data, "--output", model, "--epochs", 1, "--batch-size", 8,
              "--max-seq-length", 128, "--quiet")
    report = json.loads((model / "eval.json").read_text())
    assert report["split"] == "test" and report["kind"] == "site"
    assert {"model", "base", "bm25"} <= set(report["systems"])
    assert report["n_queries"] == 3
    output = embedtune("search", "--model", model, "--corpus", data, "my notes stopped syncing", "-k", "3", "--json",
                       "--quiet")
    hits = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert len(hits) == 3
    assert any("sync" in json.dumps(hit).lower() for hit in hits)
