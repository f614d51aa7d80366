"""Output folders: every command that writes a folder refuses to lose what is already there.

A non-empty folder that is not a previous output of the same command is refused (unless
``--overwrite``); the current folder, a folder above it and a file are always refused; all of it
is checked before any model or data is loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedtune.cli import app
from embedtune.errors import EmbedtuneError
from embedtune.fileio import atomic_dir, check_output_dir

runner = CliRunner()


@pytest.fixture
def keep(tmp_path: Path) -> Path:
    folder = tmp_path / "keep"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    return folder


def test_a_foreign_folder_needs_overwrite(keep: Path):
    with pytest.raises(EmbedtuneError, match=r"not empty \(notes.txt\).*--overwrite"):
        check_output_dir(keep, overwrite=False, producer="train")
    assert check_output_dir(keep, overwrite=True, producer="train") == keep


def test_missing_empty_and_previous_outputs_are_fine(tmp_path: Path):
    assert check_output_dir(tmp_path / "new", overwrite=False, producer="index") == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    check_output_dir(tmp_path / "empty", overwrite=False, producer="index")
    with atomic_dir(tmp_path / "ix") as tmp:
        (tmp / "index.json").write_text("{}")
    check_output_dir(tmp_path / "ix", overwrite=False, producer="index")
    # ... but an index is not a train run, and a recsys DATA_DIR is not a site DATA_DIR
    with pytest.raises(EmbedtuneError, match="not an `embedtune train` run"):
        check_output_dir(tmp_path / "ix", overwrite=False, producer="train")
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "embedtune.json").write_text(json.dumps({"kind": "recsys"}))
    check_output_dir(tmp_path / "shop", overwrite=False, producer="recsys")
    with pytest.raises(EmbedtuneError, match="not a site DATA_DIR"):
        check_output_dir(tmp_path / "shop", overwrite=False, producer="site")


def test_cwd_its_parents_a_repository_and_a_file_are_always_refused(tmp_path: Path, monkeypatch):
    work = tmp_path / "project" / "sub"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    for target in (".", work, work.parent, Path("..")):
        with pytest.raises(EmbedtuneError, match="refusing to write into"):
            check_output_dir(target, overwrite=True, producer="train")
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    with pytest.raises(EmbedtuneError, match="repository root"):
        check_output_dir(tmp_path / "repo", overwrite=True, producer="index")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(EmbedtuneError, match="is a file"):
        check_output_dir(tmp_path / "f.txt", overwrite=True, producer="index")


# ---- every command, checked before it loads anything: the inputs below do not even exist ----------
def _commands(out: Path, tmp_path: Path) -> dict[str, list[str]]:
    missing = str(tmp_path / "does-not-exist")
    return {
        "train": ["train", "--data", missing, "-o", str(out)],
        "index build": ["index", "build", "-m", missing, "--corpus", missing, "-o", str(out)],
        "merge": ["merge", "--model", missing, "-o", str(out)],
        "eval": ["eval", "--model", missing, "--data", missing, "-o", str(out)],
        "site build": ["site", "build", missing, "-o", str(out)],
        "recsys build": ["recsys", "build", "--log", missing, "--items", missing, "-o", str(out)],
        "recsys generate": ["recsys", "generate", "-o", str(out), "--users", "5", "--items", "5"],
    }


@pytest.mark.parametrize("command", ["train", "index build", "merge", "eval", "site build", "recsys build", "recsys generate"])
def test_every_command_refuses_a_foreign_folder_before_any_work(command, keep: Path, tmp_path: Path):
    result = runner.invoke(app, _commands(keep, tmp_path)[command])
    assert result.exit_code != 0
    assert "is not empty (notes.txt)" in str(result.exception) and "--overwrite" in str(result.exception)
    assert sorted(p.name for p in keep.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("command", ["train", "index build", "merge", "eval", "site build", "recsys build", "recsys generate"])
def test_every_command_refuses_the_current_folder_even_with_overwrite(command, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    result = runner.invoke(app, [*_commands(Path("."), tmp_path)[command], "--overwrite"])
    assert result.exit_code != 0 and "refusing to write into . (the current folder)" in str(result.exception)
    assert (tmp_path / "notes.txt").read_text() == "x"


@pytest.mark.parametrize("command", ["train", "index build", "merge", "site build", "recsys build", "recsys generate"])
def test_every_command_refuses_a_file(command, tmp_path: Path):
    target = tmp_path / "out.txt"
    target.write_text("x")
    result = runner.invoke(app, _commands(target, tmp_path)[command])
    assert result.exit_code != 0 and "is a file" in str(result.exception)
    assert target.read_text() == "x"


def test_overwrite_lets_the_command_start(keep: Path, tmp_path: Path):
    """With --overwrite the output check passes and the command fails on its (missing) input instead."""
    result = runner.invoke(app, [*_commands(keep, tmp_path)["index build"], "--overwrite"])
    assert result.exit_code != 0 and "does-not-exist" in str(result.exception)
    assert (keep / "notes.txt").is_file()


def test_recsys_generate_rewrites_its_own_output(tmp_path: Path):
    out = tmp_path / "raw"
    args = ["recsys", "generate", "-o", str(out), "--users", "5", "--items", "5"]
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, args).exit_code == 0
    assert {p.name for p in out.iterdir()} == {"log.csv", "items.csv"}


def test_library_and_cli_share_the_default(tmp_path: Path, keep: Path):
    from embedtune.config import TrainConfig
    from embedtune.index import VectorIndex, build_index

    assert TrainConfig().overwrite is False
    with pytest.raises(EmbedtuneError, match="is not empty"):
        build_index("all-MiniLM-L6-v2", tmp_path / "missing.jsonl", keep)
    import numpy as np

    from embedtune.data import Document

    index = VectorIndex.from_documents([Document(id="a", title="", text="t")], np.ones((1, 4), np.float32) / 2,
                                       model="all-MiniLM-L6-v2", ann="none")
    with pytest.raises(EmbedtuneError, match="is not empty"):
        index.save(keep)
    index.save(keep, overwrite=True)
    assert (keep / "index.json").is_file() and not (keep / "notes.txt").exists()
    assert oct(os.stat(keep).st_mode & 0o777)  # a real folder, not a link
