"""The report of a real tiny fine-tune: written by `train` itself, every section drawn, text escaped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from embedtune.report import write_comparison, write_report
from tests.report.report_helpers import SCRIPT
from tests.report.test_report import IMG_RE, assert_plot, section, svgs

pytestmark = pytest.mark.slow


def test_train_writes_a_report_with_every_section_drawn(trained_run: Path):
    path = trained_run / "report.html"
    assert path.is_file()  # written by train() into the output folder
    html = path.read_text(encoding="utf-8")
    assert "<h1>run</h1>" in html  # named after the output folder, not the temporary one it was built in
    assert ".run." not in html and ".tmp" not in html  # atomic_dir's temporary name never leaks in
    results = section(html, "results")
    assert "model:" in results and "95% CI" in results
    for system in ("model", "base", "bm25"):
        assert f"<b>{system}</b>" in results
    training = section(html, "training")
    assert_plot(training)
    loss_svg = svgs(training)[0]
    assert "learned nothing: ln(candidates) = 1.39" in loss_svg  # chance line of batch 4
    assert "Dev ndcg@10 per epoch" in loss_svg
    assert "mean loss per epoch" in training and "training pairs" in training
    assert_plot(section(html, "curves"))
    assert_plot(section(html, "wtl"))
    data = section(html, "data")
    assert_plot(data)
    assert "max_seq_length 64" in svgs(data)[0]
    assert "Data doctor" in data and "distinct anchors" in data
    examples = section(html, "examples")
    assert examples.count('class="example"') == 3
    assert len(IMG_RE.findall(html)) == 4


def test_script_tags_in_the_data_are_shown_as_text(trained_run: Path):
    html = (trained_run / "report.html").read_text(encoding="utf-8")
    assert SCRIPT not in html and "<script" not in html.lower()
    assert "Does &lt;script&gt;alert(1)&lt;/script&gt; in a note run?" in html


def test_eval_only_folder_of_the_same_run(run_copy: Path, tmp_path: Path):
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    for name in ("eval.json", "eval.md", "per_query.jsonl", "runs"):
        src = run_copy / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, eval_dir / name)
    html = write_report(eval_dir).read_text(encoding="utf-8")
    assert "not a training run" in section(html, "training")
    assert_plot(section(html, "curves"))


def test_compare_a_run_with_itself_finds_no_difference(trained_run: Path, run_copy: Path, tmp_path: Path):
    html = write_comparison([trained_run, run_copy], tmp_path / "compare.html").read_text(encoding="utf-8")
    paired = section(html, "paired")
    assert "run (2) − run" in paired
    assert "0 / 3 / 0" in paired and "no detectable difference" in paired
    assert_plot(section(html, "curves"))
    assert_plot(section(html, "training"))


def test_training_run_without_evaluation_still_gets_its_training_sections(run_copy: Path):
    for name in ("eval.json", "eval.md", "per_query.jsonl"):
        (run_copy / name).unlink()
    shutil.rmtree(run_copy / "runs")
    html = write_report(run_copy).read_text(encoding="utf-8")
    assert "not evaluated on a held-out split" in section(html, "results")
    assert_plot(section(html, "training"))
    assert_plot(section(html, "data"))
    assert "no example rankings to show" in section(html, "examples")
    assert not svgs(section(html, "curves")) and not svgs(section(html, "wtl"))
