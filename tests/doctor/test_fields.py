"""Structured texts whose fields are unk, empty or constant; one text everywhere."""

from __future__ import annotations

from embedtune.data import Pair
from embedtune.doctor import (
    diagnose,
    parse_fields,
)
from tests.doctor.conftest import (
    WORDS,
    codes,
    only,
    recsys_prompt_pairs,
)


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
