"""Running the doctor: the check registry, a clean dataset, DATA paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedtune.data import Pair, write_pairs
from embedtune.doctor import (
    CHECKS,
    DoctorData,
    FindingCode,
    diagnose,
    diagnose_path,
    run_checks,
)
from embedtune.doctor.findings import by_severity
from embedtune.errors import DataError
from tests.doctor.conftest import (
    WORDS,
    clean_pairs,
    clean_split,
    codes,
    only,
    recsys_prompt_pairs,
    split_of,
)


def test_clean_dataset_has_no_findings():
    report = diagnose(clean_pairs(), eval_splits=[clean_split()], tokenizer=WORDS, batch_size=32)
    assert report.findings == [], [f.message for f in report.findings]
    assert not report.has_errors and not report.has_warnings
    assert report.stats["n_pairs"] == 80
    assert report.stats["n_unique_anchors"] == 80
    assert report.stats["eval_splits"] == ["test"]
    assert "No problems found." in report.to_markdown()


def test_diagnose_path_on_beir_folder(tiny_beir: Path, minilm_tokenizer):
    report = diagnose_path(tiny_beir, batch_size=4, tokenizer=minilm_tokenizer)
    assert report.stats["n_pairs"] == 9
    assert report.stats["eval_splits"] == ["dev", "test"]
    assert report.stats["data"] == str(tiny_beir)
    # Train (billing, sync, export) and eval (security) share nothing, and 9 pairs fill 2 batches of 4.
    assert report.findings == [], [f.message for f in report.findings]
    tight = diagnose_path(tiny_beir, batch_size=32, tokenizer=minilm_tokenizer)
    assert only(tight, "too_few_pairs").details["n_pairs"] == 9


def test_diagnose_path_on_pairs_file_and_bad_file(tmp_path: Path):
    path = tmp_path / "pairs.jsonl"
    write_pairs(path, recsys_prompt_pairs())
    report = diagnose_path(path, batch_size=16, tokenizer=WORDS)
    assert "unk_field" in codes(report) and report.stats["eval_splits"] == []
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"anchor": "a", "positive": "b"}\n{"anchor": "a"\n', encoding="utf-8")
    with pytest.raises(DataError, match="bad.jsonl:2"):
        diagnose_path(bad, tokenizer=WORDS)


def test_every_finding_code_belongs_to_exactly_one_kind_of_check_and_reads_as_before():
    declared = [code for check in CHECKS for code in check.codes] + [FindingCode.LOSS_NOT_DECREASING]
    assert set(declared) == set(FindingCode)
    # the codes are doctor.json's interface: plain lower-case strings that never change
    assert FindingCode.DUPLICATE_PAIRS == "duplicate_pairs" and FindingCode.EVAL_OVERLAP_EXACT == "eval_overlap_exact"
    assert len({check.name for check in CHECKS}) == len(CHECKS)


def test_each_check_reports_only_its_declared_codes():
    pairs = clean_pairs()[:40] * 2 + [Pair("<b>{{ name }}</b> " * 3, "Open <b>Settings</b> &amp; more")]
    # test: a training query (exact overlap); dev: two documents with one text (duplicate documents)
    test = split_of({"q1": pairs[0].anchor}, {"d1": pairs[0].positive}, {"q1": "d1"})
    dev = split_of({"q2": "Who are you?"}, {"d2": "We are a team.", "d3": "We are a team."}, {"q2": "d2"}, "dev")
    data = DoctorData(pairs, [test, dev], batch_size=8, given_tokenizer=WORDS)
    seen = set()
    for check in CHECKS:
        found = [f for s in data.eval_splits for f in check.run(data, s)] if check.per_split else check.run(data)
        assert {f.code for f in found} <= set(check.codes), check.name
        seen |= {f.code for f in found}
    assert {"duplicate_pairs", "eval_overlap_exact", "duplicate_documents", "template_syntax", "html_markup"} <= seen
    report = diagnose(pairs, eval_splits=[test, dev], batch_size=8, tokenizer=WORDS)
    assert [f.code for f in report.findings] == [f.code for f in by_severity(run_checks(data))]
    assert {f["code"] for f in json.loads(json.dumps(report.to_dict()))["findings"]} == seen
