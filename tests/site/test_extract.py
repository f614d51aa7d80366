"""Extraction: navigation, footers, cookie banners, scripts and template syntax gone; headings kept."""

from __future__ import annotations

from embedtune.site.extract import extract_page, strip_template_syntax
from embedtune.site.sources import Page, SkipLog


def _extract(path, kind="html", url="https://inkpad.example/page"):
    skips = SkipLog()
    page = Page(url=url, content=path.read_text(encoding="utf-8"), kind=kind)
    return extract_page(page, skips), skips


def test_html_page_keeps_content_and_headings_drops_boilerplate(site_pages):
    page, skips = _extract(site_pages / "docs" / "sync.html")
    assert skips.total == 0
    assert page.title == "Sync troubleshooting"  # site name after "|" dropped
    assert "## Offline devices" in page.text and "## Conflicts" in page.text
    assert "queues its changes locally" in page.text
    for junk in ("cookies", "Accept", "© 2024", "Pricing", "{#", "#}", "{{", "{%", "clear button", "user.display_name"):
        assert junk not in page.text, junk


def test_scripts_and_styles_never_reach_the_text(site_pages):
    page, _ = _extract(site_pages / "index.html")
    assert "analytics" not in page.text and "position:fixed" not in page.text
    assert "Inkpad is a note-taking app" in page.text


def test_markdown_front_matter_and_comments_removed(site_pages):
    page, _ = _extract(site_pages / "docs" / "export.md", kind="markdown")
    assert page.title == "Exporting notes"
    assert "layout: docs" not in page.text and "TODO" not in page.text
    assert "## Attachments" in page.text


def test_template_syntax_of_every_flavour_is_removed():
    text = "Keep {# a comment\nover lines #}this {% if x %}and{% endif %} {{ user.name }} {{{ raw }}} <%= erb %>text"
    cleaned = strip_template_syntax(text)
    assert "{" not in cleaned and "%" not in cleaned
    assert cleaned.split() == ["Keep", "this", "and", "text"]


def test_empty_and_boilerplate_only_pages_are_skipped_not_fatal():
    skips = SkipLog()
    assert extract_page(Page("u1", "<html><body><nav><a href='/'>Home</a></nav></body></html>", "html"), skips) is None
    assert extract_page(Page("u2", "<html><body><div><p><span></div></p>", "html"), skips) is None
    assert extract_page(Page("u3", "---\ntitle: x\n---\n\n", "markdown"), skips) is None
    assert skips.total == 3


def test_broken_markup_with_text_is_still_read_without_escapes():
    skips = SkipLog()
    page = extract_page(Page("u", "<html><body><p>Price <b>under 5 < 10 dollars* for_all <p>unclosed", "html"), skips)
    assert page is not None and "\\" not in page.text
    assert "under 5 < 10 dollars* for_all" in page.text


def test_title_falls_back_to_first_heading_then_file_name():
    skips = SkipLog()
    md = extract_page(Page("https://s/docs/setup.md", "# Getting started\n\nInstall the app from the store.", "markdown"), skips)
    assert md.title == "Getting started"
    txt = extract_page(Page("https://s/docs/release-notes.txt", "Version two adds offline mode for all plans.", "text"), skips)
    assert txt.title == "Release notes"
