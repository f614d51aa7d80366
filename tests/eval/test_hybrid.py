"""The hybrid systems in an evaluation: fused on dev only, compared with every part, kept as fusion.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedtune.eval import evaluate, write_eval
from embedtune.eval.hybrid import save_model_fusion
from embedtune.fusion import DEFAULT_FUSION, FusionSpec
from tests.eval.eval_helpers import poisoned_copy


def _evaluate(data: Path, base_model, **kw):
    return evaluate("all-MiniLM-L6-v2", data, "test", loaded_model=base_model, n_resamples=500, use_cache=False, **kw)


def test_hybrid_systems_are_scored_and_compared_with_every_part(tiny_beir, base_model, tmp_path):
    result = _evaluate(tiny_beir, base_model)
    # bm25_expanded: the tiny set's training questions are real, so BM25 with them is scored too
    assert list(result.systems) == ["model", "base", "bm25", "bm25_expanded", "hybrid", "base_hybrid"]
    pairs = [(c.system, c.baseline) for c in result.comparisons]
    assert pairs == [("model", "base"), ("model", "bm25"), ("model", "bm25_expanded"), ("hybrid", "model"),
                     ("hybrid", "bm25"), ("hybrid", "bm25_expanded"), ("hybrid", "base"), ("hybrid", "base_hybrid")]
    spec = result.fusions["hybrid"]
    assert (spec.split, spec.n_queries, spec.default) == ("dev", 1, False)  # the tiny set's one dev query
    assert set(spec.dev_metric) == {"hybrid", "model", "bm25"} and set(result.fusions["base_hybrid"].weights) == {
        "base", "bm25"}
    assert "chosen on split 'dev'" in result.systems["hybrid"].description
    assert "hybrid: " in result.verdict and result.verdict.startswith("model: ")

    write_eval(result, tmp_path / "ev")
    saved = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert 0 <= saved["systems"]["hybrid"]["ndcg@10"] <= 1 and "base_hybrid" in saved["systems"]
    assert saved["fusion"]["hybrid"] == json.loads((tmp_path / "ev" / "fusion.json").read_text())
    assert {c["system"] for c in saved["comparisons"]} == {"model", "hybrid"}
    assert (tmp_path / "ev" / "runs" / "hybrid.trec").is_file()
    assert "Fusion of `hybrid`: wsum" in (tmp_path / "ev" / "eval.md").read_text()
    assert result.recommendation.startswith("serve ")

    from embedtune.report import write_report

    html = write_report(tmp_path / "ev").read_text()
    assert "<b>hybrid</b>" in html and "<b>base_hybrid</b>" in html
    assert "Fusion of <b>hybrid</b>: wsum" in html and "<b>Recommendation:</b> serve " in html


def test_weights_never_read_the_test_split(tiny_beir, base_model, tmp_path):
    clean = _evaluate(tiny_beir, base_model)
    poisoned = poisoned_copy(tiny_beir, tmp_path / "poisoned")
    dirty = _evaluate(poisoned, base_model)
    assert dirty.systems["hybrid"].metrics != clean.systems["hybrid"].metrics  # the poison did reach the test
    write_eval(clean, tmp_path / "a")
    write_eval(dirty, tmp_path / "b")
    a = json.loads((tmp_path / "a" / "fusion.json").read_text())
    b = json.loads((tmp_path / "b" / "fusion.json").read_text())
    assert a.pop("data") != b.pop("data") and a == b


def test_without_a_dev_split_the_documented_default_is_used_and_said(tiny_beir, base_model):
    (tiny_beir / "qrels" / "dev.tsv").unlink()
    spec = _evaluate(tiny_beir, base_model).fusions["hybrid"]
    assert spec.default and spec.weights == DEFAULT_FUSION.weights and "has no 'dev' split" in spec.note


def test_a_given_fusion_is_used_for_both_hybrids_and_no_hybrid_skips_them(tiny_beir, base_model):
    given = FusionSpec(method="rrf", norm=None, rrf_k=20, weights={"model": 1.0, "bm25": 1.0})
    result = _evaluate(tiny_beir, base_model, fusion=given)
    assert result.fusions["hybrid"] == given and result.fusions["base_hybrid"].weights == {"base": 1.0, "bm25": 1.0}
    assert "hybrid" not in _evaluate(tiny_beir, base_model, hybrid=False).systems
    assert "hybrid" not in _evaluate(tiny_beir, base_model, baselines=False).systems


def test_model_folder_keeps_a_chosen_fusion_over_a_default(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    chosen = DEFAULT_FUSION.model_copy(update={"default": False, "rule": "tuned", "split": "dev",
                                               "weights": {"model": 0.7, "bm25": 0.3}})
    assert save_model_fusion(chosen, model) == model / "fusion.json"
    assert save_model_fusion(DEFAULT_FUSION, model) is None  # a default never replaces a choice made on data
    assert FusionSpec.load(model / "fusion.json") == chosen
    assert save_model_fusion(chosen, "all-MiniLM-L6-v2") is None  # the bundled model is never written to


@pytest.mark.parametrize("flags, hybrid", [([], True), (["--no-hybrid"], False)])
def test_cli_eval_hybrid_flags(tiny_beir, tmp_path, flags, hybrid):
    from embedtune.cli import app

    out = tmp_path / "ev"
    res = CliRunner().invoke(app, ["eval", "--model", "all-MiniLM-L6-v2", "--data", str(tiny_beir), "--split", "test",
                                   "--output", str(out), "--quiet", "--resamples", "200", "--no-cache", *flags])
    assert res.exit_code == 0, res.output
    assert ("hybrid" in json.loads((out / "eval.json").read_text())["systems"]) is hybrid
    assert (out / "fusion.json").is_file() is hybrid
    assert ("hybrid fusion: wsum" in res.output) is hybrid


def _result_with(means: dict[str, float], verdicts: dict[str, str]):
    """An EvalResult whose systems have the given NDCG@10 and whose hybrid comparisons have the given verdicts."""
    from embedtune.data.records import RetrievalSplit
    from embedtune.eval.bootstrap import Comparison
    from embedtune.eval.evaluate import EvalResult, SystemResult
    from embedtune.metrics import RETRIEVAL_METRICS

    split = RetrievalSplit("test", {}, {"q": "x"}, {"q": {"d": 1}})
    systems = {n: SystemResult(n, n, {"ndcg@10": v}, {}, {}, 0.0) for n, v in means.items()}
    comparisons = [Comparison("hybrid", b, "ndcg@10", means["hybrid"], means[b], means["hybrid"] - means[b],
                              -0.01, 0.02, v, 300, 1, 1, 1) for b, v in verdicts.items()]
    return EvalResult("data", split, RETRIEVAL_METRICS, systems, comparisons, {})


def test_recommendation_names_what_to_serve_and_what_the_fine_tune_adds():
    means = {"model": 0.70, "base": 0.65, "bm25": 0.69, "hybrid": 0.76, "base_hybrid": 0.74}
    verdicts = {"model": "better", "bm25": "better", "base": "better", "base_hybrid": "no detectable difference"}
    line = _result_with(means, verdicts).recommendation
    assert line.startswith("serve hybrid: +0.0600 ndcg@10 over the fine-tuned model (95% CI [-0.0100, +0.0200]")
    assert "+0.0200 ndcg@10 over base_hybrid" in line and "base_hybrid (no training) serves as well" in line
    line = _result_with({**means, "base_hybrid": 0.77}, verdicts).recommendation
    assert line.startswith("serve base_hybrid (the base model fused with BM25: no training)")
    line = _result_with({**means, "model": 0.80}, verdicts).recommendation
    assert line.startswith("serve the fine-tuned model alone (dense)") and "-0.0400 ndcg@10 over model" in line


def test_on_a_tie_the_recommendation_takes_what_needs_no_training():
    means = {"model": 0.65, "base": 0.65, "bm25": 0.69, "hybrid": 0.72, "base_hybrid": 0.72}  # model is the base
    verdicts = {"model": "better", "bm25": "better", "base": "better", "base_hybrid": "no detectable difference"}
    assert _result_with(means, verdicts).recommendation.startswith("serve base_hybrid")
    means = {"model": 0.60, "base": 0.60, "bm25": 0.75, "hybrid": 0.70, "base_hybrid": 0.70}
    assert _result_with(means, verdicts).recommendation.startswith("serve bm25 alone: it scores best here")


def test_a_model_folders_fusion_is_used_when_the_data_has_no_dev_split_unless_it_is_a_default(tiny_beir, base_model,
                                                                                              tmp_path):
    (tiny_beir / "qrels" / "dev.tsv").unlink()
    model = tmp_path / "model"
    model.mkdir()
    chosen = FusionSpec(method="wsum", norm="min-max", weights={"model": 0.9, "bm25": 0.1}, split="dev",
                        data="elsewhere", n_queries=50)
    chosen.save(model / "fusion.json")
    from embedtune.data.beir import load_retrieval_split
    from embedtune.eval.hybrid import hybrid_fusions
    from embedtune.eval.systems import BM25System

    ret = load_retrieval_split(tiny_beir, "test")
    assert hybrid_fusions(ret, tiny_beir, {}, {"bm25": BM25System()}, 100, model_dir=model) == {}  # no dense part asked for
    dense = {"model": object()}
    assert hybrid_fusions(ret, tiny_beir, dense, {"bm25": BM25System()}, 100, model_dir=model)["hybrid"] == chosen
    DEFAULT_FUSION.save(model / "fusion.json")
    assert hybrid_fusions(ret, tiny_beir, dense, {"bm25": BM25System()}, 100, model_dir=model)["hybrid"].note.endswith(
        "has no 'dev' split to choose on")
