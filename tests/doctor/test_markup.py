"""Template syntax and HTML left in texts."""

from __future__ import annotations

from embedtune.data import Pair
from embedtune.doctor import (
    diagnose,
)
from tests.doctor.conftest import (
    WORDS,
    clean_pairs,
    codes,
    only,
)


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
