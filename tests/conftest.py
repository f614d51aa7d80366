"""Shared fixtures: tiny data made in the test, and the bundled base model loaded once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from embedtune.data import Document, write_beir  # noqa: E402

TOPICS = {
    "billing": [
        ("How do I update the credit card on my account?", "Open Settings, choose Billing and click Replace card to enter a new payment card."),
        ("Can I get a refund for an annual plan?", "Annual plans can be refunded in full within 30 days of purchase by contacting support."),
        ("Where do I download invoices?", "Every invoice is listed under Billing > History as a PDF you can download."),
    ],
    "sync": [
        ("Why are my notes not syncing between devices?", "Sync pauses when a device is offline or signed into a different workspace; reconnect to resume."),
        ("How often does the app sync?", "Changes are pushed to the server within a few seconds and pulled every minute."),
        ("Can I turn off sync for one notebook?", "Right-click a notebook and choose Keep on this device to exclude it from sync."),
    ],
    "security": [
        ("How do I enable two-factor authentication?", "Go to Account > Security and scan the QR code with an authenticator app to turn on 2FA."),
        ("Is my data encrypted?", "All notes are encrypted in transit with TLS and at rest with AES-256."),
        ("What happens if I lose my phone with the authenticator?", "Use one of the ten recovery codes you saved when enabling two-factor authentication."),
    ],
    "export": [
        ("How can I export all my notes?", "Choose File > Export workspace to download every note as Markdown in a zip archive."),
        ("Can I print a notebook?", "Open the notebook, press Ctrl+P and pick which sections to include in the printout."),
        ("Does export keep attachments?", "Attachments are exported next to each Markdown file in an attachments folder."),
    ],
}


def make_tiny_beir(folder: Path) -> Path:
    """12 passages with one question each: train on billing+sync+export, dev/test on the rest."""
    corpus, queries, qrels = [], {}, {"train": {}, "dev": {}, "test": {}}
    for topic, items in TOPICS.items():
        for i, (question, answer) in enumerate(items):
            doc_id, qid = f"{topic}-{i}", f"q-{topic}-{i}"
            corpus.append(Document(id=doc_id, title=topic.title(), text=answer))
            queries[qid] = question
            split = "train" if topic in ("billing", "sync", "export") else ("dev" if i == 0 else "test")
            qrels[split][qid] = {doc_id: 1}
    return write_beir(folder, corpus, queries, qrels)


@pytest.fixture(scope="session")
def tiny_beir_maker():
    """The :func:`make_tiny_beir` builder, for module-scoped fixtures (conftest is not importable by name)."""
    return make_tiny_beir


@pytest.fixture
def tiny_beir(tmp_path: Path) -> Path:
    return make_tiny_beir(tmp_path / "tiny")


@pytest.fixture(scope="session")
def base_model():
    from embedtune.base_model import load_model

    return load_model("all-MiniLM-L6-v2")
