"""The HTML report of evaluation folders (no model needed): sections, escaping, recsys wording, errors."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedtune.cli import app
from embedtune.errors import DataError, EmbedtuneError
from embedtune.report import load_run, write_comparison, write_report
from tests.report.report_helpers import SCRIPT

IMG_RE = re.compile(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"')


def section(html: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', html, re.DOTALL)
    assert match, f"section {section_id!r} missing"
    return match.group(1)


def svgs(fragment: str) -> list[str]:
    return [base64.b64decode(m.group(1)).decode("utf-8") for m in IMG_RE.finditer(fragment)]


def assert_plot(fragment: str) -> None:
    images = svgs(fragment)
    assert images, "no plot in this section"
    for svg in images:
        assert "<svg" in svg and svg.count("<path") >= 5  # axes, ticks and data were drawn


def test_eval_only_report_has_every_section_and_says_what_is_missing(eval_only_dir: Path):
    path = write_report(eval_only_dir)
    assert path == eval_only_dir / "report.html"
    html = path.read_text(encoding="utf-8")
    results = section(html, "results")
    assert "model: better than base" in results  # the verdict line, at the top
    assert results.index("verdict") < results.index("<table")
    for system in ("model", "base", "bm25"):
        assert f"<b>{system}</b>" in results
    assert "model − base" in results and "95% CI" in results
    assert "not a training run" in section(html, "training")
    assert_plot(section(html, "curves"))
    wtl = section(html, "wtl")
    assert_plot(wtl)
    assert "3 wins" in base64.b64decode(IMG_RE.search(wtl).group(1)).decode()  # every test query is a win
    assert "written by training runs only" in section(html, "data")
    examples = section(html, "examples")
    assert examples.count('class="example"') == 3  # every test query (fewer than ten exist)
    assert "Choose File &gt; Export" not in examples  # export docs are not in these top-3 lists...
    assert "Use one of the ten recovery codes" in examples  # ...but document texts are shown
    assert examples.count('<span class="mark yes">') >= 3  # the model's relevant first hits are marked
    assert "http://" not in html and "https://" not in html  # nothing to fetch


def test_every_text_from_the_data_is_escaped(eval_only_dir: Path):
    html = write_report(eval_only_dir).read_text(encoding="utf-8")
    assert SCRIPT not in html
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the passage and the query, shown as text
    assert "Scripts &lt;b&gt;in&lt;/b&gt; notes" in html
    assert "a warning &lt;i&gt;here&lt;/i&gt;" in html
    assert "<b>in</b>" not in html


def test_recsys_report_speaks_of_users_and_shows_its_baselines_and_slices(recsys_eval_dir: Path):
    html = write_report(recsys_eval_dir).read_text(encoding="utf-8")
    results = section(html, "results")
    assert "<b>popularity</b>" in results and "<b>cooccurrence</b>" in results and "bm25" not in results
    assert "hit@1" in results and "recall@50" in results
    assert "By history_length" in results and "1-5" in results
    assert "Per-user wins" in html
    assert "6 users" in html
    assert "relevant item" in section(html, "examples")


def test_examples_fall_back_to_ids_when_the_data_folder_is_gone(eval_only_dir: Path, report_beir: Path):
    shutil.rmtree(report_beir)
    html = write_report(eval_only_dir).read_text(encoding="utf-8")
    examples = section(html, "examples")
    assert "not reachable from here" in examples
    assert "security-3" in examples  # ids still shown


def test_missing_rankings_leave_one_line_instead_of_a_curve(eval_only_dir: Path):
    shutil.rmtree(eval_only_dir / "runs")
    html = write_report(eval_only_dir).read_text(encoding="utf-8")
    assert "no runs/*.trec rankings" in section(html, "curves")
    assert not svgs(section(html, "curves"))
    assert_plot(section(html, "wtl"))  # per_query.jsonl alone is enough for wins and losses


def test_bad_inputs_name_the_file(eval_only_dir: Path, tmp_path: Path):
    with pytest.raises(EmbedtuneError, match="neither eval.json nor train_log.json"):
        write_report(tmp_path / "data" / "qrels")
    with pytest.raises(EmbedtuneError, match="no such run folder"):
        write_report(tmp_path / "nope")
    (eval_only_dir / "eval.json").write_text('{"split": "test"', encoding="utf-8")
    with pytest.raises(DataError, match=r"eval\.json.*malformed JSON"):
        write_report(eval_only_dir)
    (eval_only_dir / "eval.json").write_text(json.dumps({"split": "test"}), encoding="utf-8")
    with pytest.raises(DataError, match=r"eval\.json.*not an embedtune eval\.json"):
        write_report(eval_only_dir)
    assert not (eval_only_dir / "report.html").exists()


def test_a_failed_render_leaves_no_file_behind(eval_only_dir: Path, monkeypatch):
    from embedtune.report import html as html_mod

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(html_mod.plots, "win_tie_loss_histogram", broken)
    with pytest.raises(RuntimeError):
        write_report(eval_only_dir)
    assert not [p for p in eval_only_dir.iterdir() if "report" in p.name]


def test_compare_pairs_runs_on_the_same_split(eval_only_dir: Path, report_beir: Path, tmp_path: Path):
    from tests.report.report_helpers import fake_eval_dir, shuffled_rankings

    worse = fake_eval_dir(report_beir, tmp_path / "worse", {
        "model": shuffled_rankings(report_beir, 7), "base": shuffled_rankings(report_beir, 1)})
    out = write_comparison([eval_only_dir, worse], tmp_path / "cmp" / "compare.html")
    html = out.read_text(encoding="utf-8")
    results = section(html, "results")
    assert "<b>eval</b>" in results and "<b>worse</b>" in results
    paired = section(html, "paired")
    assert "worse − eval" in paired
    assert re.search(r"\d / \d / [1-3]</td>", paired)  # the shuffled run loses queries to the perfect one
    assert_plot(section(html, "curves"))
    assert "none of these folders is a training run" in section(html, "training")
    with pytest.raises(EmbedtuneError, match="at least two"):
        write_comparison([eval_only_dir], tmp_path / "one.html")


def test_load_run_reads_typed_records(eval_only_dir: Path):
    run = load_run(eval_only_dir, with_token_lengths=False)
    assert run.eval is not None and run.eval.split == "test" and run.eval.n_queries == 3
    assert {q.query_id for q in run.per_query} == set(run.runs["model"])
    assert run.runs["model"]["q-security-3"][0][0] == "security-3"
    assert run.train_log is None and "train_log" in run.missing


def test_cli_report_and_compare(eval_only_dir: Path, tmp_path: Path):
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(eval_only_dir), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and (tmp_path / "r.html").is_file()
    result = runner.invoke(app, ["report", str(eval_only_dir), "--quiet"])
    assert result.exit_code == 0 and result.output == ""
    result = runner.invoke(app, ["compare", str(eval_only_dir), str(eval_only_dir), "-o", str(tmp_path / "c.html")])
    assert result.exit_code == 0, result.output
    assert "eval (2)" in (tmp_path / "c.html").read_text(encoding="utf-8")  # same-named runs told apart
    for command in ("report", "compare"):
        help_text = runner.invoke(app, [command, "--help"]).output
        assert "Example" in help_text


def test_curve_values_equal_the_evaluators_metric_definitions():
    from embedtune.metrics import metric_at_k_curve
    from embedtune.report.plots import curve_values

    relevant = {"q1": {"a", "c"}, "q2": {"z"}, "q3": {"b", "d", "e"}}
    rankings = {"q1": ["c", "x", "a", "y"], "q2": ["x", "y"], "q3": ["e", "b", "x", "d"] + [f"n{i}" for i in range(120)]}
    ks = [1, 2, 3, 5, 10, 100]
    values = curve_values(rankings, relevant, ks)
    for metric in ("recall", "ndcg"):
        assert values[metric] == pytest.approx(metric_at_k_curve(rankings, relevant, metric, ks))
    assert values["recall"][0] == pytest.approx((1 / 2 + 0 + 1 / 3) / 3)
