"""A split of generated queries gets no verdict about real users: headline, lexical overlap, base_hybrid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedtune.data.origin import split_query_origin
from embedtune.eval import evaluate, write_eval

SITE_PAGES = Path(__file__).resolve().parents[1] / "data" / "site" / "pages"


@pytest.fixture(scope="module")
def site_data(tmp_path_factory) -> Path:
    from embedtune.site import SiteBuildOptions, build_site_dataset

    out = tmp_path_factory.mktemp("site") / "data"
    # no real questions; the generators whose queries can judge a passage, so that there is a dev split
    build_site_dataset(SITE_PAGES, out, SiteBuildOptions(dev_fraction=0.5,
                                                         generators=["headings", "keywords", "sentences"]))
    return out


def test_query_origin_is_read_from_the_manifest_and_inferred_for_old_site_data(site_data, tmp_path):
    assert split_query_origin(site_data, "dev", "site") == "generated"
    (tmp_path / "embedtune.json").write_text(json.dumps({"kind": "site"}))  # built before the marker existed
    assert split_query_origin(tmp_path, "dev", "site") == "generated"
    assert split_query_origin(tmp_path, "test", "site") == "real"
    assert split_query_origin(tmp_path / "nowhere", "test", "retrieval") == "real"


def test_a_generated_split_says_so_first_and_never_concludes_better(site_data, base_model, tmp_path):
    from embedtune.card import embedtune_section
    from embedtune.config import TrainConfig
    from embedtune.report import write_report

    result = evaluate("all-MiniLM-L6-v2", site_data, "dev", loaded_model=base_model, n_resamples=500,
                      use_cache=False)
    assert result.generated
    assert result.lexical_overlap == pytest.approx(result.systems["bm25"].metrics["ndcg@10"])
    assert result.verdict.startswith("generated queries only — not evidence that real users' searches improve")
    assert f"BM25 scores {result.lexical_overlap:.4f}" in result.verdict
    assert "base_hybrid" in result.recommendation and "--search-log" in result.recommendation
    markdown = result.to_markdown()
    assert "better than" not in markdown and "| better |" not in markdown

    write_eval(result, tmp_path / "ev")
    saved = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert saved["query_origin"] == "generated" and saved["lexical_overlap"] == result.lexical_overlap
    assert saved["recommendation"] == result.recommendation
    html = write_report(tmp_path / "ev").read_text()
    assert "Generated queries only: not evidence that real users" in html and "base_hybrid" in html
    assert ">better<" not in html

    card = embedtune_section(TrainConfig(data=[site_data], output=tmp_path / "m"), result, None, {})
    assert "**Not evaluated on real questions.**" in card and "better than" not in card


def test_a_real_split_keeps_its_verdict(tiny_beir, base_model):
    result = evaluate("all-MiniLM-L6-v2", tiny_beir, "test", loaded_model=base_model, n_resamples=500,
                      use_cache=False)
    assert not result.generated and result.lexical_overlap is None
    assert result.verdict.startswith("model: ")


def test_weights_are_not_tuned_on_a_dev_split_of_generated_queries(tmp_path, base_model):
    from embedtune.fusion import DEFAULT_FUSION
    from embedtune.site import SiteBuildOptions, build_site_dataset

    data = tmp_path / "data"
    build_site_dataset(SITE_PAGES, data, SiteBuildOptions(
        dev_fraction=0.5, generators=["headings", "keywords", "sentences"],
        questions=SITE_PAGES.parent / "questions.jsonl", url="https://inkpad.example/"))
    result = evaluate("all-MiniLM-L6-v2", data, "test", loaded_model=base_model, n_resamples=200, use_cache=False)
    spec = result.fusions["hybrid"]
    assert not result.generated and spec.split == "dev" and spec.n_queries > 0
    assert (spec.rule, spec.default, spec.weights) == ("default", True, DEFAULT_FUSION.weights)
    assert "dev holds generated queries" in spec.note
