"""Common mistakes get one line and exit 2 (no traceback), and are caught before anything is loaded."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedtune.cli import app
from embedtune.errors import EmbedtuneError

runner = CliRunner()


def embedtune(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real command line: what a user sees on stderr, and the exit code."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run([sys.executable, "-m", "embedtune", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def test_version():
    from embedtune import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"embedtune {__version__}"


def test_serve_a_missing_index_is_one_line_and_exit_2(tmp_path: Path):
    proc = embedtune("serve", str(tmp_path / "nonexistent"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nonexistent'} is not an embedtune index (no index.json); build one with `embedtune index build`"
    ]


def test_an_empty_api_key_is_refused_before_the_index_is_read(tmp_path: Path):
    result = runner.invoke(app, ["serve", str(tmp_path / "nonexistent"), "--api-key", ""])
    assert isinstance(result.exception, EmbedtuneError) and "--api-key is empty" in str(result.exception)


def test_recommend_k_zero_is_refused_before_the_model_is_loaded(tmp_path: Path):
    result = runner.invoke(app, ["recommend", "-m", str(tmp_path / "no-model"), "--data", str(tmp_path), "--user", "1", "-k", "0"])
    assert result.exit_code == 2 and "-k" in result.output and "no-model" not in result.output


def test_merge_alpha_is_checked_before_the_model_is_loaded(tmp_path: Path):
    result = runner.invoke(app, ["merge", "-m", str(tmp_path / "no-model"), "--alpha", "2", "-o", str(tmp_path / "out")])
    assert isinstance(result.exception, EmbedtuneError)
    assert "alpha must be between 0 and 1, got 2.0" in str(result.exception)


def test_quiet_silences_the_libraries_progress_bars(capfd):
    from datasets import Dataset

    from embedtune.base_model import load_model, silence_progress_bars

    silence_progress_bars()
    model = load_model("all-MiniLM-L6-v2")
    model.model_card_data.set_widget_examples(Dataset.from_dict({"anchor": ["a question"] * 3, "positive": ["an answer"] * 3}))
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "Computing widget examples" not in err


def test_written_files_get_the_usual_permissions(tmp_path: Path):
    from embedtune.fileio import atomic_dir

    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "out") as tmp:
            os.close(os.open(tmp / "weights.bin", os.O_CREAT | os.O_WRONLY, 0o600))  # as transformers saves it
            (tmp / "sub").mkdir(mode=0o700)
            (tmp / "sub" / "run.sh").write_text("#!/bin/sh\n")
            (tmp / "sub" / "run.sh").chmod(0o700)
    finally:
        os.umask(old)
    out = tmp_path / "out"
    assert stat.S_IMODE((out / "weights.bin").stat().st_mode) == 0o644
    assert stat.S_IMODE((out / "sub").stat().st_mode) == 0o755 == stat.S_IMODE(out.stat().st_mode)
    assert stat.S_IMODE((out / "sub" / "run.sh").stat().st_mode) == 0o755


@pytest.mark.parametrize("command", [["index", "build"], ["eval"], ["train"], ["merge"]])
def test_a_truncated_model_is_one_line_and_exit_2(command, tmp_path: Path, tiny_beir: Path):
    from embedtune.base_model import bundled_model_dir

    model = tmp_path / "model"
    model.mkdir()
    src = bundled_model_dir()
    for f in src.rglob("*"):
        if f.is_file():
            target = model / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.read_bytes())
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100_000])
    args = {
        "index build": ["index", "build", "-m", str(model), "--corpus", str(tiny_beir), "-o", str(tmp_path / "ix"), "-q"],
        "eval": ["eval", "-m", str(model), "--data", str(tiny_beir), "--no-baselines", "-q"],
        "train": ["train", "--data", str(tiny_beir), "--base-model", str(model), "-o", str(tmp_path / "run"), "-q"],
        "merge": ["merge", "-m", str(model), "-o", str(tmp_path / "merged")],
    }[" ".join(command)]
    proc = embedtune(*args)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and "model.safetensors" in lines[-1] and "Traceback" not in proc.stderr
