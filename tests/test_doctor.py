"""The data doctor: every check on crafted data (firing and staying quiet), the loss check, paths and reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from embedtune.data import Document, Pair, RetrievalSplit, write_pairs
from embedtune.doctor import (
    CHECKS,
    DoctorData,
    DoctorReport,
    Finding,
    FindingCode,
    check_training_loss,
    diagnose,
    diagnose_path,
    load_base_tokenizer,
    parse_fields,
    run_checks,
)
from embedtune.doctor.findings import by_severity
from embedtune.errors import DataError


class WordTokenizer:
    """Stands in for a Hugging Face tokenizer where only token counts matter: one token per word + 2 specials."""

    def __call__(self, texts, **kwargs):
        return {"input_ids": [[0] * (len(t.split()) + 2) for t in texts]}


WORDS = WordTokenizer()
VERBS = ["reset", "rename", "share", "archive", "delete", "restore", "export", "configure"]
NOUNS = [
    "printer",
    "calendar",
    "mailbox",
    "workspace",
    "invoice",
    "password",
    "project",
    "dashboard",
    "folder",
    "team",
]
PLACES = ["Settings", "Admin", "Account", "Tools", "Sidebar", "Help", "Menu", "Profile"]


def clean_pairs() -> list[Pair]:
    """80 distinct, plain question/answer pairs: nothing for the doctor to complain about."""
    pairs = []
    for i, verb in enumerate(VERBS):
        for j, noun in enumerate(NOUNS):
            place = PLACES[(i + j) % len(PLACES)]
            pairs.append(
                Pair(
                    f"How do I {verb} the {noun}?",
                    f"Open {place}, pick the {noun} entry and press the {verb} button; changes apply after step {i}{j}.",
                )
            )
    return pairs


def split_of(
    queries: dict[str, str], docs: dict[str, str], qrels: dict[str, str], name: str = "test"
) -> RetrievalSplit:
    corpus = {doc_id: Document(id=doc_id, text=text) for doc_id, text in docs.items()}
    return RetrievalSplit(
        name=name, corpus=corpus, queries=queries, qrels={q: {d: 1} for q, d in qrels.items()}
    )


def clean_split() -> RetrievalSplit:
    queries = {
        "q1": "Why is the battery draining overnight?",
        "q2": "Which browsers are supported by the web app?",
    }
    docs = {
        "d1": "Background refresh keeps the radio awake; turn it off under Power to save battery.",
        "d2": "The web app runs on current Chrome, Firefox, Safari and Edge releases.",
        "d3": "Keyboard shortcuts are listed under Help.",
    }
    return split_of(queries, docs, {"q1": "d1", "q2": "d2"})


def codes(report: DoctorReport) -> set[str]:
    return {f.code for f in report.findings}


def only(report: DoctorReport, code: str) -> Finding:
    found = report.by_code(code)
    assert len(found) == 1, f"expected one {code!r}, got {[f.message for f in found]}"
    return found[0]


# ---------------------------------------------------------------------------------------- clean


def test_clean_dataset_has_no_findings():
    report = diagnose(clean_pairs(), eval_splits=[clean_split()], tokenizer=WORDS, batch_size=32)
    assert report.findings == [], [f.message for f in report.findings]
    assert not report.has_errors and not report.has_warnings
    assert report.stats["n_pairs"] == 80
    assert report.stats["n_unique_anchors"] == 80
    assert report.stats["eval_splits"] == ["test"]
    assert "No problems found." in report.to_markdown()


# ---------------------------------------------------------------------------------------- size


def test_too_few_pairs_warns_with_numbers():
    report = diagnose(clean_pairs()[:10], tokenizer=WORDS, batch_size=32)
    finding = only(report, "too_few_pairs")
    assert finding.severity == "warning"
    assert "10 training pairs" in finding.message and "64" in finding.message
    assert diagnose(clean_pairs()[:64], tokenizer=WORDS, batch_size=32).by_code("too_few_pairs") == []


# ---------------------------------------------------------------------------------------- duplicates


def test_repeated_positive_beyond_batches_warns_and_exact_repeats_are_flagged():
    pairs = clean_pairs()
    # One passage is the answer to 10 different questions, but an epoch of 80 rows has only 2 batches of 32.
    hub = "Contact support through the chat bubble in the lower right corner."
    pairs = [Pair(p.anchor, hub) if i % 8 == 0 else p for i, p in enumerate(pairs)]
    pairs += [pairs[1], pairs[2]]  # two rows repeated verbatim
    report = diagnose(pairs, tokenizer=WORDS, batch_size=32)

    positives = only(report, "duplicate_positives")
    assert positives.severity == "warning"
    assert positives.details["max_rows_per_text"] == 10
    assert positives.details["rows_beyond_batches"] == 10 - 2
    assert positives.details["expected_collisions_per_random_batch"] > 1
    assert "no-duplicates batch sampler" in positives.message
    assert positives.details["examples"][0]["text"] == hub

    rows = only(report, "duplicate_pairs")
    assert rows.details["n_repeated_rows"] == 2
    # The repeated rows also repeat their anchors, but only twice: a note, not a warning.
    assert only(report, "duplicate_anchors").severity == "info"


def test_duplicate_texts_are_matched_after_case_and_whitespace_normalization():
    pairs = clean_pairs()
    pairs.append(Pair("  how do I RESET the   printer? ", pairs[0].positive))
    report = diagnose(pairs, tokenizer=WORDS, batch_size=32)
    assert only(report, "duplicate_pairs").details["n_repeated_rows"] == 1


# ---------------------------------------------------------------------------------------- eval overlap


def test_eval_queries_in_training_are_an_error_near_copies_a_warning():
    pairs = clean_pairs()
    split = split_of(
        {
            "copy": "how do i  Reset the printer?",  # exact after normalization
            "near": "How do I reset the printer and the dashboard settings quickly today",  # near
            "new": "Why is the battery draining overnight?",
        },
        {
            "d1": pairs[0].positive,
            "d2": "Background refresh keeps the radio awake.",
            "d3": "Other text entirely.",
        },
        {"copy": "d1", "near": "d2", "new": "d3"},
    )
    pairs.append(
        Pair("How do I reset the printer and the dashboard settings quickly now", "A different answer here.")
    )
    report = diagnose(pairs, eval_splits=[split], tokenizer=WORDS, batch_size=32)

    exact = [f for f in report.by_code("eval_overlap_exact") if f.details["side"] == "queries"]
    assert len(exact) == 1 and exact[0].severity == "error"
    assert exact[0].details["n_overlap"] == 1 and exact[0].details["n_same_pair"] == 1
    assert exact[0].details["examples"][0]["query_id"] == "copy"
    assert "1 of 3 test queries" in exact[0].message
    assert report.has_errors

    near = [f for f in report.by_code("eval_overlap_near") if f.details["side"] == "queries"]
    assert len(near) == 1 and near[0].severity == "warning"
    assert near[0].details["examples"][0]["query_id"] == "near"
    assert near[0].details["examples"][0]["jaccard"] >= 0.8

    docs = [f for f in report.by_code("eval_overlap_exact") if f.details["side"] == "documents"]
    assert len(docs) == 1 and docs[0].severity == "warning"
    assert docs[0].details["examples"][0]["doc_id"] == "d1"
    # In recommendation the catalog is shared by design: the same overlap is only a note.
    split.kind = "recsys"
    recsys = diagnose(pairs, eval_splits=[split], tokenizer=WORDS, batch_size=32)
    docs = [f for f in recsys.by_code("eval_overlap_exact") if f.details["side"] == "documents"]
    assert len(docs) == 1 and docs[0].severity == "info"
    # Errors come first.
    assert report.findings[0].severity == "error"


def test_a_small_share_of_eval_queries_in_training_is_a_warning():
    pairs = clean_pairs()
    queries = {f"q{k}": f"Why does error code {k} appear on the screen at start?" for k in range(150)}
    queries["q0"] = pairs[5].anchor  # 1 of 150 (0.7%), as in SciFact's test split
    split = split_of(queries, {"d": "Error codes are listed in the manual."}, dict.fromkeys(queries, "d"))
    finding = only(diagnose(pairs, eval_splits=[split], tokenizer=WORDS), "eval_overlap_exact")
    assert finding.severity == "warning" and finding.details["n_overlap"] == 1


def test_duplicate_documents_in_eval_corpus():
    split = clean_split()
    split.corpus["d1-copy"] = Document(id="d1-copy", text=split.corpus["d1"].text.upper())
    report = diagnose(clean_pairs(), eval_splits=[split], tokenizer=WORDS)
    finding = only(report, "duplicate_documents")
    assert finding.details["n_duplicate_documents"] == 1
    assert sorted(finding.details["examples"][0]["doc_ids"]) == ["d1", "d1-copy"]


def test_eval_profiles_containing_the_predicted_item_are_flagged():
    items = {
        f"i{k}": f"Item {name}"
        for k, name in enumerate(["Red Running Shoes", "Blue Denim Jacket", "Steel Water Bottle"])
    }
    corpus = {
        k: Document(id=k, title=v.removeprefix("Item "), text="Category: outdoor") for k, v in items.items()
    }
    queries = {
        "u1": "Recently bought: Red Running Shoes, Blue Denim Jacket",  # contains its target i0: leak
        "u2": "Recently bought: Steel Water Bottle",  # target i1 is not in the profile
    }
    split = RetrievalSplit("test", corpus, queries, {"u1": {"i0": 1}, "u2": {"i1": 1}}, kind="recsys")
    finding = only(diagnose(clean_pairs(), eval_splits=[split], tokenizer=WORDS), "query_contains_positive")
    assert finding.details["split"] == "test"
    assert finding.details["n_hits"] == 1 and finding.details["examples"][0]["query_id"] == "u1"
    assert finding.severity == "warning"


# ---------------------------------------------------------------------------------------- fields


def recsys_prompt_pairs(n: int = 40) -> list[Pair]:
    """The public failure: every feature 'unk', only IDs vary."""
    return [
        Pair(
            f"User Profile:\n- user_id: {1000 + i}\n- HistCategories: unk\n- HistShops: unk\n- HistBrands: UNK\n"
            "Preference: retrieve suitable items given user historical patterns.",
            f"Item Metadata:\n- item_id: B{i:05d}X\n- Category: unk\n- Shop: unknown\n"
            "Goal: match relevance for likely click.",
        )
        for i in range(n)
    ]


def test_unk_recsys_prompts_are_flagged_and_ids_named():
    report = diagnose(recsys_prompt_pairs(), tokenizer=WORDS, batch_size=16)
    unk = {f.details["column"]: f for f in report.by_code("unk_field")}
    assert set(unk) == {"anchor", "positive"}
    anchor = unk["anchor"]
    assert anchor.severity == "warning"
    assert set(anchor.details["fields"]) == {"HistCategories", "HistShops", "HistBrands"}
    assert anchor.details["fields"]["HistShops"]["share"] == 1.0
    assert anchor.details["id_fields"] == ["user_id"]
    assert anchor.details["instruction_lines"] == ["Preference"]
    assert "3 of 4 fields" in anchor.message
    assert "IDs (user_id)" in anchor.message and "MiniLM cannot learn from IDs" in anchor.message
    assert set(unk["positive"].details["fields"]) == {"Category", "Shop"}
    # "User Profile:" is a section header above bullets, not an empty field; the constant
    # "Preference: ..." sentence is the template's instruction, not a feature.
    assert report.by_code("empty_field") == []
    assert report.by_code("constant_field") == []


def test_empty_and_constant_fields():
    pairs = [
        Pair(
            f"question number {i} about sizes", f"Title: Shirt model {i}\nColor:\nBrand: Acme\nSize: {i % 7}"
        )
        for i in range(40)
    ]
    report = diagnose(pairs, tokenizer=WORDS, batch_size=16)
    assert set(only(report, "empty_field").details["fields"]) == {"Color"}
    constant = only(report, "constant_field")
    assert (
        set(constant.details["fields"]) == {"Brand"}
        and constant.details["fields"]["Brand"]["value"] == "Acme"
    )
    assert report.by_code("unk_field") == []


def test_fields_that_vary_are_not_flagged():
    pairs = [
        Pair(f"q {i}", f"- Category: {['toys', 'books', 'garden'][i % 3]}\n- Shop: shop {i % 5}")
        for i in range(30)
    ]
    assert {"unk_field", "empty_field", "constant_field"}.isdisjoint(codes(diagnose(pairs, tokenizer=WORDS)))


def test_constant_positive_text_is_an_error():
    pairs = [Pair(f"question {i} about the product", "Yes.") for i in range(40)]
    finding = only(diagnose(pairs, tokenizer=WORDS, batch_size=16), "constant_text")
    assert finding.severity == "error" and finding.details["column"] == "positive"
    assert "40 of 40 positives (100.0%)" in finding.message


def test_parse_fields_reads_bullets_and_plain_lines_but_not_urls():
    text = "User Profile:\n- user_id: 12\n* Shop: none\nTitle: A b\nSee https://example.com/x"
    assert parse_fields(text) == {"user_id": "12", "Shop": "none", "Title": "A b"}


# ---------------------------------------------------------------------------------------- lengths


@pytest.fixture(scope="module")
def minilm_tokenizer():
    return load_base_tokenizer()


def test_long_positives_are_measured_with_the_real_tokenizer(minilm_tokenizer):
    long_text = " ".join(f"word{k} alpha beta" for k in range(80))  # ~360 word pieces
    pairs = [Pair(f"How do I {v} item {i}?", long_text + f" end {v} {i}") for i, v in enumerate(VERBS * 9)]
    report = diagnose(pairs, max_seq_length=256, batch_size=32, tokenizer=minilm_tokenizer)
    finding = only(report, "long_texts")
    assert finding.details["column"] == "positive"
    assert finding.details["share"] == 1.0 and finding.details["p50"] > 256
    assert report.stats["positive_truncated_share"] == 1.0
    assert report.stats["anchor_truncated_share"] == 0.0
    assert 5 < report.stats["anchor_tokens"]["p50"] < 20
    # The same data with room for every token is fine.
    assert diagnose(pairs, max_seq_length=512, tokenizer=minilm_tokenizer).by_code("long_texts") == []


# ---------------------------------------------------------------------------------------- containment


def test_anchor_containing_its_positive_and_copied_queries():
    pairs = clean_pairs()
    for i in range(0, 10):  # the seed template: the query is the passage itself
        pairs[i] = Pair(f"Summarize: {pairs[i].positive}", pairs[i].positive)
    copied = "the quarterly report lists every invoice that was paid late by more than thirty days"
    pairs[10] = Pair(copied.capitalize() + ".", f"Reports. {copied.capitalize()}. It is mailed on Mondays.")
    report = diagnose(pairs, tokenizer=WORDS, batch_size=32)
    finding = only(report, "query_contains_positive")
    assert finding.severity == "warning"
    assert finding.details["n_anchor_contains_positive"] == 10
    assert finding.details["n_positive_contains_anchor"] == 1
    assert finding.details["examples"][0]["anchor"].startswith("Summarize:")
    assert "11 of 80 training pairs" in finding.message


def test_short_keyword_query_found_in_its_passage_is_normal():
    pairs = clean_pairs()
    pairs[0] = Pair("printer reset", "To do a printer reset hold the power button for ten seconds.")
    assert diagnose(pairs, tokenizer=WORDS).by_code("query_contains_positive") == []


# ---------------------------------------------------------------------------------------- markup


def test_template_syntax_and_html_are_reported_with_examples():
    pairs = clean_pairs()
    pairs[3] = Pair(pairs[3].anchor, "{# TODO: rewrite this intro #} Billing runs monthly.")
    pairs[4] = Pair(pairs[4].anchor, "Welcome to {{ site.title }}, the help center.")
    pairs[5] = Pair(pairs[5].anchor, "<div class='note'>Refunds take 5 days</div>")
    pairs[6] = Pair(pairs[6].anchor, "Terms &amp; conditions apply.")
    report = diagnose(pairs, tokenizer=WORDS, batch_size=32)
    template = only(report, "template_syntax")
    assert template.severity == "warning" and template.details["counts"] == {"positive": 2}
    assert template.details["examples"][0]["match"] == "{# TODO: rewrite this intro #}"
    markup = only(report, "html_markup")
    assert markup.details["counts"] == {"positive": 2} and markup.severity == "warning"


def test_latex_comparisons_and_ampersands_are_not_markup():
    pairs = clean_pairs()
    pairs[3] = Pair(pairs[3].anchor, r"Oxygen rose to $$ {\text{Pa}}_{{\text{O}_{2}}} $$ after treatment.")
    pairs[4] = Pair(pairs[4].anchor, "If x<y and z>w then AT&T R&D costs rise; see {name} placeholders.")
    assert {"template_syntax", "html_markup"}.isdisjoint(codes(diagnose(pairs, tokenizer=WORDS)))


# ---------------------------------------------------------------------------------------- loss


def test_loss_near_chance_is_a_warning():
    finding = check_training_loss([3.45, 3.44], batch_size=32)
    assert finding is not None and finding.code == "loss_not_decreasing" and finding.severity == "warning"
    assert "learning nothing" in finding.message and "unk" in finding.message
    assert finding.details["chance_loss"] == pytest.approx(math.log(32), abs=1e-3)


def test_loss_that_drops_is_fine():
    assert check_training_loss([2.1, 0.8], batch_size=32) is None


def test_single_epoch_is_judged_on_its_value():
    assert check_training_loss([3.2], batch_size=32) is not None  # 3.2 >= 0.9 * 3.47
    assert check_training_loss([3.0], batch_size=32) is None
    assert check_training_loss([], batch_size=32) is None


def test_hard_negatives_raise_the_chance_level_and_nan_is_divergence():
    # 32 anchors x (1 positive + 1 negative) = 64 candidates: ln 64 = 4.16, so 3.5 is below 0.9 * 4.16.
    assert check_training_loss([3.5], batch_size=32) is not None
    assert check_training_loss([3.5], batch_size=32, negatives_per_pair=1) is None
    diverged = check_training_loss([2.0, float("nan")], batch_size=32)
    assert diverged is not None and "diverged" in diverged.message
    json.dumps(diverged.details)


# ---------------------------------------------------------------------------------------- paths and reports


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


def test_report_round_trips_through_json_and_renders_markdown():
    report = diagnose(recsys_prompt_pairs(10), tokenizer=WORDS, batch_size=32)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["schema_version"] == 1
    assert data["n_warnings"] == sum(f["severity"] == "warning" for f in data["findings"]) > 0
    again = DoctorReport.from_dict(data)
    assert again.findings == report.findings
    markdown = report.to_markdown()
    assert "| severity | check | finding |" in markdown
    assert "`unk_field`" in markdown and "`too_few_pairs`" in markdown
    assert "10 pairs" in markdown


# ---------------------------------------------------------------------------------------- registry


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
