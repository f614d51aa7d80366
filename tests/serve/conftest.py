"""Fixtures for the service tests: a tiny help-center index encoded once per session with the base model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from embedtune.data import Document

PASSAGES = [
    ("billing-card", "Billing", "Open Settings, choose Billing and click Replace card to enter a new payment card.", "en"),
    ("billing-refund", "Refunds", "Annual plans can be refunded in full within 30 days of purchase by contacting support.", "en"),
    ("sync-offline", "Sync", "Sync pauses when a device is offline; reconnect to the internet to resume syncing notes.", "en"),
    ("security-2fa", "Two-factor authentication", "Go to Account > Security and scan the QR code with an authenticator app to turn on 2FA.", "en"),
    ("export-all", "Export", "Choose File > Export workspace to download every note as Markdown in a zip archive.", "en"),
    ("export-de", "Exportieren", "Wählen Sie Datei > Arbeitsbereich exportieren, um alle Notizen als Markdown herunterzuladen.", "de"),
    ("xss", "<b>Embedding</b> <script> tags", "Never paste <script>alert('xss')</script> into a note: script tags in notes are shown as plain text.", "en"),
    ("print", "Printing", "Open the notebook, press Ctrl+P and pick which sections to include in the printout.", "en"),
]


def serve_documents() -> list[Document]:
    return [
        Document(id=doc_id, title=title, text=text, metadata={"url": f"https://help.example.com/{doc_id}", "lang": lang})
        for doc_id, title, text, lang in PASSAGES
    ]


@pytest.fixture(scope="session")
def serve_encoder(base_model):
    from embedtune.base_model import resolve_model_path
    from embedtune.encoders import TorchEncoder

    return TorchEncoder.from_model(base_model, resolve_model_path("all-MiniLM-L6-v2"))


@pytest.fixture(scope="session")
def session_index(tmp_path_factory, serve_encoder) -> Path:
    from embedtune.index import VectorIndex

    docs = serve_documents()
    vectors = serve_encoder.encode([d.full_text for d in docs])
    path = tmp_path_factory.mktemp("serve") / "index"
    VectorIndex.from_documents(docs, vectors, model="all-MiniLM-L6-v2", ann="none").save(path)
    return path


@pytest.fixture
def index_copy(session_index: Path, tmp_path: Path) -> Path:
    """A private copy for tests that change the index."""
    target = tmp_path / "index"
    shutil.copytree(session_index, target)
    return target
