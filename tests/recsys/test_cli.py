from __future__ import annotations

import json

from typer.testing import CliRunner

from embedtune.cli import app

runner = CliRunner()


def test_generate_then_build_from_the_command_line(tmp_path):
    raw, data = tmp_path / "raw", tmp_path / "data"
    result = runner.invoke(app, ["recsys", "generate", "-o", str(raw), "--users", "40", "--items", "30", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert (raw / "log.csv").is_file() and (raw / "items.csv").is_file()
    result = runner.invoke(app, ["recsys", "build", "--log", str(raw / "log.csv"), "--items", str(raw / "items.csv"),
                                 "-o", str(data), "--max-train-per-user", "2", "--hist-top-n", "3", "-q"])
    assert result.exit_code == 0, result.output
    assert "queries: train" in result.output and "test 40" in result.output
    manifest = json.loads((data / "embedtune.json").read_text())
    assert manifest["config"]["max_train_per_user"] == 2 and manifest["config"]["hist_top_n"] == 3


def test_build_maps_columns_by_flag_and_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "log.csv").write_text("buyer,sku,when,kind\nb1,s1,1,view\nb1,s2,2,purchase\nb1,s3,3,view\n")
    (tmp_path / "items.csv").write_text("sku,genre\ns1,jazz\ns2,rock\ns3,jazz\n")
    args = ["recsys", "build", "--log", str(tmp_path / "log.csv"), "--items", str(tmp_path / "items.csv"),
            "-o", str(tmp_path / "data"), "--user-column", "buyer", "--item-column", "sku", "--time-column", "when",
            "--event-column", "kind", "--catalog-item-column", "sku", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    test_query = json.loads((tmp_path / "data" / "queries.jsonl").read_text().splitlines()[-1])["text"]
    assert "- HistCategories: rock, jazz" in test_query and "- HistIntentions: click: 1, buy: 1" in test_query
    assert runner.invoke(app, args).exit_code == 0  # its own earlier output is rebuilt
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    result = runner.invoke(app, [*args[:6], "-o", str(tmp_path / "other"), *args[8:]])
    assert result.exit_code != 0
    assert "already exists" in str(result.exception) and "--overwrite" in str(result.exception)


def test_help_shows_examples():
    for command in (["recsys", "build"], ["recsys", "generate"], ["recommend"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output
