"""A search-log export (query + clicked page) becomes the real-question test split of ``site build``."""

from __future__ import annotations

import json

import pytest

from embedtune.data import load_retrieval_split
from embedtune.data.beir import read_manifest
from embedtune.data.records import Document
from embedtune.errors import DataError
from embedtune.site import SiteBuildOptions, build_site_dataset
from embedtune.site.searchlog import read_search_log
from embedtune.site.split import match_questions


def test_csv_log_groups_queries_keeps_every_clicked_page_and_skips_searches_without_a_click(tmp_path):
    log = tmp_path / "searches.csv"
    log.write_text(
        "Search_Term,Clicked_URL,timestamp\n"
        "sync stuck,/docs/sync.html,1\n"
        "Sync  Stuck,/docs/export.md,2\n"
        "refund,,3\n"
        "sync stuck,/docs/sync.html,4\n"
    )
    questions, stats = read_search_log(log)
    assert stats.as_dict() == {"rows": 4, "without_click": 1, "queries": 1}
    (q,) = questions
    assert q.question == "sync stuck" and q.targets == ("/docs/sync.html", "/docs/export.md")
    assert q.line == 2 and q.source == "search-log"


def test_page_ids_match_corpus_documents_and_their_passages():
    docs = [Document(id="42", text="a"), Document(id="42#2", text="b"), Document(id="7", text="c",
                                                                                 metadata={"url": "/seven"})]
    questions, _ = read_search_log_rows([{"query": "about forty-two", "page_id": "42"},
                                         {"query": "seven by url", "page_id": "https://x/seven"}])
    qrels, _, unmatched = match_questions(questions, docs)
    assert qrels == {"real-1": {"42": 1, "42#2": 1}, "real-2": {"7": 1}} and not unmatched


def read_search_log_rows(rows, tmp_dir=None):
    import tempfile
    from pathlib import Path

    folder = Path(tmp_dir or tempfile.mkdtemp())
    path = folder / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return read_search_log(path)


@pytest.mark.parametrize("content, message, line", [
    ("when,where\nx,y\n", "no query column", 2),
    ("query,page\n,/a\n", "empty 'query'", 2),
    ("query,page\nx,\n", "no search with a clicked page", None),
])
def test_bad_logs_name_file_and_line(tmp_path, content, message, line):
    path = tmp_path / "log.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as err:
        read_search_log(path)
    assert err.value.path == path and err.value.line == line


def test_site_build_with_a_search_log_has_a_real_test_split(site_pages, tmp_path):
    log = tmp_path / "searches.tsv"
    log.write_text("query\turl\nnotes not syncing on laptop\t/docs/sync.html#offline-devices\n"
                   "money back yearly plan\thttps://inkpad.example/pricing.html\nnowhere\t/missing\n")
    report = build_site_dataset(site_pages, tmp_path / "data", SiteBuildOptions(
        search_log=log, generators=["headings", "keywords", "sentences"]))
    test = load_retrieval_split(tmp_path / "data", "test")
    assert sorted(test.queries[q] for q in test.query_ids) == ["money back yearly plan", "notes not syncing on laptop"]
    manifest = read_manifest(tmp_path / "data")
    assert manifest["query_origin"] == {"train": "generated", "dev": "generated", "test": "real"}
    assert manifest["real_questions"]["search_log"]["queries"] == 3
    assert manifest["unmatched_search_log"] == [4]
    summary = "\n".join(report.summary_lines())
    assert "only 2 real question(s)" in summary and "--search-log" in summary


def test_site_build_without_real_questions_asks_for_them(site_pages, tmp_path):
    report = build_site_dataset(site_pages, tmp_path / "data")
    # generated queries only: a dev split of generated queries, no test split of real ones
    assert read_manifest(tmp_path / "data")["query_origin"] == {"train": "generated", "dev": "generated"}
    summary = "\n".join(report.summary_lines())
    assert "NO REAL QUESTIONS" in summary and "30 or more" in summary and "base_hybrid" in summary
    assert "can only be scored on generated queries (dev)" in summary and "no evidence" in summary


def test_cut_out_generators_leave_no_split_to_judge_and_say_so(site_pages, tmp_path):
    report = build_site_dataset(site_pages, tmp_path / "data", SiteBuildOptions(generators=["titles", "cloze"]))
    # titles and cloze cut their queries out of the passage, so none can judge: no dev split either
    assert read_manifest(tmp_path / "data")["query_origin"] == {"train": "generated"}
    summary = "\n".join(report.summary_lines())
    assert "NO REAL QUESTIONS" in summary and "nothing in this DATA_DIR can tell whether a fine-tune helps" in summary
