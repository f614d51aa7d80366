"""Fixtures for the site tests: the fixture pages and the bundled model's tokenizer (loaded once)."""

from __future__ import annotations

from pathlib import Path

import pytest

SITE_DATA = Path(__file__).resolve().parent.parent / "data" / "site"


@pytest.fixture
def site_pages() -> Path:
    """A small site: nav/footers/cookie banners, template junk, a print duplicate, bad files, robots.txt."""
    return SITE_DATA / "pages"


@pytest.fixture
def site_questions() -> Path:
    return SITE_DATA / "questions.jsonl"


@pytest.fixture(scope="session")
def token_counter():
    from embedtune.site.chunk import load_token_counter

    return load_token_counter("all-MiniLM-L6-v2")
