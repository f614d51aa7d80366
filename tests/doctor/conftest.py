"""Crafted data for the doctor tests: clean pairs and splits, a word-count tokenizer, finding lookups."""

from __future__ import annotations

import pytest

from embedtune.data import Document, Pair, RetrievalSplit
from embedtune.doctor import (
    DoctorReport,
    Finding,
    load_base_tokenizer,
)


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


@pytest.fixture(scope="module")
def minilm_tokenizer():
    return load_base_tokenizer()
