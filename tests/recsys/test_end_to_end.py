"""Generated shop → recsys build → embedtune train (tiny, 1 epoch) → eval → recommend."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from embedtune.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_generated_shop_trains_evaluates_and_recommends(tmp_path):
    raw, data, model, evaluation = (tmp_path / n for n in ("raw", "data", "model", "eval"))
    steps = [
        ["recsys", "generate", "-o", str(raw), "--users", "40", "--items", "30", "--categories", "6", "--seed", "5"],
        ["recsys", "build", "--log", str(raw / "log.csv"), "--items", str(raw / "items.csv"), "-o", str(data),
         "--max-train-per-user", "1", "--hist-items", "2", "-q"],
        ["train", "--data", str(data), "--output", str(model), "--epochs", "1", "--batch-size", "16",
         "--max-seq-length", "96", "--force", "-q"],
        ["eval", "--model", str(model), "--data", str(data), "--split", "test", "--output", str(evaluation),
         "--resamples", "200", "--no-cache", "-q"],
    ]
    for args in steps:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
    assert (model / "recsys" / "cooccurrence.npz").is_file()  # saved for `recommend`, from training events
    assert (model / "recsys" / "transitions.npz").is_file()
    assert (model / "recsys" / "attributes.json").is_file()
    log = json.loads((model / "train_log.json").read_text())
    assert log["logq_correction"] is True  # auto: on for recommendation data
    report = json.loads((evaluation / "eval.json").read_text())
    assert report["kind"] == "recsys" and report["n_queries"] == 40 and report["n_corpus"] == 30
    assert set(report["systems"]) == {"model", "base", "popularity", "cooccurrence", "transitions", "attributes",
                                      "hybrid", "base_hybrid"}
    assert {c["baseline"] for c in report["comparisons"] if c["system"] == "model"} == {
        "base", "popularity", "cooccurrence", "transitions", "attributes"}
    assert {c["baseline"] for c in report["comparisons"] if c["system"] == "hybrid"} == {
        "model", "base", "popularity", "cooccurrence", "transitions", "attributes", "base_hybrid"}
    assert set(json.loads((model / "fusion.json").read_text())["weights"]) == {"model", "cooccurrence", "transitions",
                                                                              "popularity", "attributes"}
    assert set(report["slices"]) == {"target_popularity", "history_length"}
    for metrics in report["systems"].values():
        assert 0.0 <= metrics["recall@10"] <= 1.0

    result = runner.invoke(app, ["recommend", "--model", str(model), "--data", str(data), "--user", "1", "-k", "3",
                                 "--json", "-q"])
    assert result.exit_code == 0, result.output
    recs = [json.loads(line) for line in result.output.strip().splitlines()]
    assert len(recs) == 3
    import pandas as pd

    history = set(pd.read_parquet(data / "interactions.parquet").query("user_id == '1'").item_id)
    assert not {r["item_id"] for r in recs} & history
