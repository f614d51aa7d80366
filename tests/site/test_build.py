"""``embedtune site build`` end to end on a small page set: a BEIR DATA_DIR the trainer can read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from embedtune.cli import site as site_cli
from embedtune.data import load_retrieval_split, load_training_pairs, read_corpus
from embedtune.data.beir import read_manifest
from embedtune.errors import EmbedtuneError
from embedtune.site import SiteBuildOptions, build_site_dataset


@pytest.fixture(scope="module")
def cli():
    app = typer.Typer()
    site_cli.register(app)
    app.command("noop")(lambda: None)  # a second command keeps "site" a sub-command group
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def test_cli_builds_a_beir_data_dir_from_a_folder(cli, site_pages, site_questions, tmp_path):
    out = tmp_path / "data"
    result = cli("site", "build", site_pages, "-o", out, "--url", "https://inkpad.example/",
                 "--questions", site_questions, "--quiet")
    assert result.exit_code == 0, result.output
    assert "skipped 4 page(s)" in result.output and "binary file" in result.output

    corpus = read_corpus(out / "corpus.jsonl")
    texts = " ".join(d.full_text for d in corpus.values())
    for junk in ("cookies", "{#", "{{", "{%", "© 2024", "analytics"):
        assert junk not in texts
    assert "Admin console" not in texts  # robots.txt disallows /private/
    sync = next(d for d in corpus.values() if d.title == "Sync troubleshooting — Offline devices")
    assert sync.metadata["url"] == "https://inkpad.example/docs/sync.html"
    assert sync.metadata["anchor"] == "offline-devices"
    pricing = next(d for d in corpus.values() if d.title == "Pricing — Refunds")
    assert sorted(pricing.metadata["urls"]) == ["https://inkpad.example/pricing-print.html",
                                                "https://inkpad.example/pricing.html"]

    manifest = read_manifest(out)
    assert manifest["kind"] == "site"
    assert manifest["generators"] == ["headings", "keywords", "sentences"]  # the measured default (docs/benchmarks.md)
    assert manifest["recommended_training"] == {"hard_negatives": 1, "merge_base": 0.5}
    assert manifest["counts"]["duplicates_merged"]["exact"] >= 2
    assert sum(manifest["queries_per_generator"]["train"].values()) == manifest["counts"]["train_pairs"]
    assert manifest["skipped_pages"]["by_reason"] == {
        "disallowed by robots.txt": 1, "binary file": 1, "not UTF-8": 1,
        "no main text found (broken HTML or only boilerplate)": 1,
    }

    test = load_retrieval_split(out, "test")
    assert test.kind == "site" and len(test.query_ids) == 3
    train = load_retrieval_split(out, "train")
    held_out_docs = {d for q in test.query_ids for d in test.relevant(q)}
    assert not held_out_docs & {d for q in train.query_ids for d in train.relevant(q)}
    pairs = load_training_pairs(out / "pairs.jsonl")
    assert len(pairs) == manifest["counts"]["train_pairs"] == len(train.query_ids)
    assert load_training_pairs(out)  # the folder itself is training data for `embedtune train`


def test_sitemap_source_uses_sitemap_urls_and_skips_missing(site_pages, tmp_path):
    report = build_site_dataset(site_pages / "sitemap.xml", tmp_path / "data", SiteBuildOptions(dev_fraction=0))
    corpus = read_corpus(tmp_path / "data" / "corpus.jsonl")
    urls = {d.metadata["url"] for d in corpus.values()}
    assert urls == {"https://inkpad.example/", "https://inkpad.example/docs/sync.html",
                    "https://inkpad.example/docs/export.md", "https://inkpad.example/pricing.html"}
    assert report.manifest["skipped_pages"]["by_reason"] == {"listed in sitemap but no file found": 1}
    assert not (tmp_path / "data" / "qrels" / "dev.tsv").exists()


def test_beir_corpus_source_keeps_document_ids(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    long_text = " ".join(f"Finding {i} shows that statins lower cholesterol in older adults with diabetes." for i in range(40))
    rows = [
        {"_id": "101", "title": "Aspirin and stroke", "text": "Low-dose aspirin reduces the risk of a first ischemic stroke in women."},
        {"_id": "202", "title": "Statins", "text": long_text},
        {"_id": "303", "title": "Vitamin D", "text": "Vitamin D supplements did not prevent fractures in community-dwelling adults."},
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # keywords: the near-identical sentences of "Statins" leave nothing for the default cut-out generators
    build_site_dataset(corpus, tmp_path / "data", SiteBuildOptions(max_tokens=128, dev_fraction=0,
                                                                   generators=["keywords"]))
    ids = list(read_corpus(tmp_path / "data" / "corpus.jsonl"))
    assert ids[0] == "101" and ids[-1] == "303"
    assert "202" in ids and "202#2" in ids


def test_failed_build_leaves_nothing_behind_and_keeps_old_output(site_pages, tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(EmbedtuneError, match="already exists"):
        build_site_dataset(site_pages, out, overwrite=False)
    empty = tmp_path / "empty-site"
    empty.mkdir()
    (empty / "blank.html").write_text("<html><body></body></html>")
    with pytest.raises(EmbedtuneError, match="no page with usable text"):
        build_site_dataset(empty, out, overwrite=True)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "empty-site"]  # no temp folders left


def test_cli_reports_bad_options_as_errors(cli, site_pages, tmp_path):
    result = cli("site", "build", site_pages, "-o", tmp_path / "d", "--max-tokens", "5")
    assert isinstance(result.exception, EmbedtuneError) and "max_tokens" in str(result.exception)
    result = cli("site", "build", tmp_path / "nope", "-o", tmp_path / "d")
    assert isinstance(result.exception, EmbedtuneError) and "no such file" in str(result.exception)
    assert not Path(tmp_path / "d").exists()


def test_help_has_an_example(cli):
    result = cli("site", "build", "--help")
    assert result.exit_code == 0 and "Example" in result.output and "--questions" in result.output


def test_oversized_and_unreadable_files_in_a_folder_are_skipped(tmp_path):
    from embedtune.site.sources import SkipLog, read_folder

    (tmp_path / "ok.md").write_text("# Help\n\nAll about the help page of the app.")
    (tmp_path / "huge.html").write_bytes(b"<p>" + b"x" * (2 * 1024 * 1024) + b"</p>")
    skips = SkipLog()
    pages = read_folder(tmp_path, skips, max_bytes=1024 * 1024)
    assert [p.url for p in pages] == ["/ok.md"]
    assert skips.reasons == {"too large (over 1 MB)": 1}


def test_a_search_log_split_by_question_trains_on_real_searches(cli, site_pages, tmp_path):
    from embedtune.data.expansion import training_expansions
    from embedtune.data.origin import split_query_origin

    pages = ["/docs/sync.html", "/pricing.html", "/docs/export.md", "/"]
    log = tmp_path / "searches.csv"
    log.write_text("query,clicked_url\n" + "".join(f"search number {i} about {pages[i % 4]},{pages[i % 4]}\n"
                                                   for i in range(20)))
    out = tmp_path / "data"
    result = cli("site", "build", site_pages, "-o", out, "--search-log", log, "--real-train-fraction", "0.5",
                 "--real-dev-fraction", "0.2", "--quiet")
    assert result.exit_code == 0, result.output
    assert "real questions split by question: train 10, dev 4, test 6" in result.output
    manifest = read_manifest(out)
    assert manifest["query_origin"] == {"train": "real", "dev": "real", "test": "real"}
    assert manifest["real_questions"]["per_split"] == {"train": 10, "dev": 4, "test": 6}
    assert {split_query_origin(out, name, "site") for name in ("train", "dev", "test")} == {"real"}
    train = load_retrieval_split(out, "train")
    assert len(train.query_ids) == 10 and all(train.queries[q].startswith("search number") for q in train.query_ids)
    pairs = load_training_pairs(out)
    assert len(pairs) == manifest["counts"]["train_pairs"]
    real_pairs = [p for p in pairs if p.anchor.startswith("search number")]
    assert len(real_pairs) == manifest["counts"]["train_pairs_real"] > 0
    held_out = {s.queries[q] for s in (load_retrieval_split(out, "dev"), load_retrieval_split(out, "test"))
                for q in s.query_ids}
    assert len(held_out) == 10 and not held_out & {p.anchor for p in pairs}
    expanded = training_expansions(out)  # BM25 can be expanded with the real training searches, and only them
    assert expanded and all(q.startswith("search number") for qs in expanded.values() for q in qs)


def test_question_fractions_need_questions_and_room_for_test(cli, site_pages, site_questions, tmp_path):
    result = cli("site", "build", site_pages, "-o", tmp_path / "d", "--real-train-fraction", "0.5")
    assert isinstance(result.exception, EmbedtuneError) and "give questions or search_log" in str(result.exception)
    result = cli("site", "build", site_pages, "-o", tmp_path / "d", "--questions", site_questions,
                 "--real-train-fraction", "0.7", "--real-dev-fraction", "0.3")
    assert isinstance(result.exception, EmbedtuneError) and "must leave real questions for test" in str(result.exception)
    assert not (tmp_path / "d").exists()


def test_a_large_search_log_all_in_test_suggests_splitting_it(cli, site_pages, tmp_path):
    log = tmp_path / "searches.csv"
    log.write_text("query,clicked_url\n" + "".join(f"search {i},/docs/sync.html\n" for i in range(300)))
    result = cli("site", "build", site_pages, "-o", tmp_path / "data", "--search-log", log, "--quiet")
    assert result.exit_code == 0, result.output
    assert "300 real questions, all in test" in result.output and "keeps 90 for test" in result.output
    result = cli("site", "build", site_pages, "-o", tmp_path / "split", "--search-log", log, "--quiet",
                 "--real-train-fraction", "0.6", "--real-dev-fraction", "0.1")
    assert result.exit_code == 0, result.output
    assert "all in test" not in result.output and "split by question: train 180, dev 30, test 90" in result.output
