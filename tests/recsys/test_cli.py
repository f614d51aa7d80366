from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from embedtune.cli import app, main

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


def test_unreadable_log_is_one_line_naming_file_and_line_and_exit_2(tmp_path, monkeypatch, capsys):
    log = tmp_path / "log.jsonl"
    log.write_bytes(b'{"user_id": "u1", "item_id": "s1", "timestamp": 1}\n{"user_id": "u1", "item_id": \n')
    (tmp_path / "items.csv").write_text("item_id,genre\ns1,jazz\n")
    argv = ["embedtune", "recsys", "build", "--log", str(log), "--items", str(tmp_path / "items.csv"),
            "-o", str(tmp_path / "data"), "-q"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {log}:2: cannot read interaction log: malformed JSON") and err.count("\n") == 1, err
    assert "LINE 1" not in err and "read_json" not in err
    assert not (tmp_path / "data").exists()


def test_recommend_mode_each_mode_and_a_bad_mode(tiny_shop, tmp_path):
    from embedtune.recsys.build import build_recsys

    data = build_recsys(*tiny_shop, tmp_path / "data").out_dir
    base = ["recommend", "--model", "all-MiniLM-L6-v2", "--data", str(data), "--history", "i1", "-k", "2", "--json", "-q"]
    modes = {}
    for mode in ("text", "cooccurrence"):
        result = runner.invoke(app, [*base, "--mode", mode])
        assert result.exit_code == 0, result.output
        modes[mode] = [json.loads(line) for line in result.stdout.strip().splitlines()]
        assert {r["mode"] for r in modes[mode]} == {mode}
    assert modes["cooccurrence"][0]["item_id"] == "i2"  # met together with i1 in training
    unseen = ["recommend", "--model", "all-MiniLM-L6-v2", "--data", str(data), "--history", "i5", "--mode", "cooccurrence"]
    result = runner.invoke(app, unseen)
    assert result.exit_code == 0, result.output
    assert "note: no item of the history has co-occurrence statistics" in result.output and "mode: text" in result.output
    result = runner.invoke(app, [*base, "--mode", "popular"])
    assert result.exit_code == 2
    assert "Invalid value for --mode" in result.output and "'popular' is not one of text, cooccurrence" in result.output
