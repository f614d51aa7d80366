"""Main text of a page as markdown-ish text: headings kept, everything around the content dropped.

HTML goes through trafilatura (navigation, footers, cookie banners, ``<script>``/``<style>`` and
boilerplate are dropped; headings come out as ``#`` lines). Markdown loses its front matter and HTML
comments. Template syntax (``{# … #}``, ``{% … %}``, ``{{ … }}``, ``<%= … %>``) is removed from every
kind: unrendered templates are common in static-site sources and must never become training text.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from embedtune.site.sources import Page, SkipLog

# Ordered: Jinja/Twig/Liquid comments, blocks and expressions; Handlebars triple-stash; ERB/EJS.
TEMPLATE_PATTERNS = (
    re.compile(r"\{#.*?#\}", re.DOTALL),
    re.compile(r"\{%-?.*?-?%\}", re.DOTALL),
    re.compile(r"\{\{\{.*?\}\}\}", re.DOTALL),
    re.compile(r"\{\{-?.*?-?\}\}", re.DOTALL),
    re.compile(r"<%[=#-]?.*?-?%>", re.DOTALL),
)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_FRONT_MATTER = re.compile(r"\A(?:---|\+\+\+)\s*\n(.*?)\n(?:---|\+\+\+)\s*\n", re.DOTALL)
_FRONT_MATTER_TITLE = re.compile(r"^title\s*[:=]\s*[\"']?(.*?)[\"']?\s*$", re.MULTILINE)
_ATX_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_BLANK_RUNS = re.compile(r"\n{3,}")
# trafilatura's markdown escapes punctuation ("\\<", "\\*"); passages are plain text for a model.
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|~])")
_MIN_WORDS = 3


@dataclass(frozen=True)
class ExtractedPage:
    """A page's clean text (markdown-ish: ``#`` headings, paragraphs, ``-`` lists) and its title."""

    url: str
    title: str
    text: str


def strip_template_syntax(text: str) -> str:
    """Remove template tags, comments and expressions (Jinja, Liquid, Django, Handlebars, ERB)."""
    for pattern in TEMPLATE_PATTERNS:
        text = pattern.sub(" ", text)
    return text


def _tidy(text: str) -> str:
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def _title_from_url(url: str) -> str:
    path = unquote(urlsplit(url).path).rstrip("/")
    name = path.rsplit("/", 1)[-1] or "home"
    name = re.sub(r"\.(html?|md|markdown|mdx|txt|rst)$", "", name, flags=re.IGNORECASE)
    if name.lower() == "index":
        parent = path.rsplit("/", 2)
        name = parent[-2] if len(parent) >= 2 and parent[-2] else "home"
    return re.sub(r"[-_]+", " ", name).strip().capitalize()


def _first_heading(text: str) -> str | None:
    for line in text.splitlines():
        match = _ATX_HEADING.match(line)
        if match:
            return match.group(2).strip()
    return None


def _extract_html(html: str) -> tuple[str | None, str | None]:
    import trafilatura

    # Its "discarding data" warnings duplicate the skip we record (and summarize) ourselves.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    text = trafilatura.extract(
        html,
        output_format="markdown",
        include_comments=False,
        include_tables=True,
        include_links=False,
        include_images=False,
        favor_recall=True,
        deduplicate=False,
    )
    metadata = trafilatura.extract_metadata(html)
    title = metadata.title if metadata is not None and metadata.title else None
    return text, title


def extract_page(page: Page, skips: SkipLog) -> ExtractedPage | None:
    """Clean one page, or record why it has no usable text (broken HTML, only boilerplate, ...)."""
    raw = strip_template_syntax(page.content)
    title: str | None = None
    if page.kind == "html":
        try:
            text, title = _extract_html(raw)
        except Exception as exc:  # trafilatura/lxml raise assorted errors on mangled markup
            skips.skip(page.url, f"broken HTML ({type(exc).__name__})")
            return None
        if not text:
            skips.skip(page.url, "no main text found (broken HTML or only boilerplate)")
            return None
        text = _MD_ESCAPE.sub(r"\1", text)
    else:
        text = raw
        front = _FRONT_MATTER.match(text)
        if front:
            match = _FRONT_MATTER_TITLE.search(front.group(1))
            title = match.group(1).strip() if match else None
            text = text[front.end():]
        text = _HTML_COMMENT.sub(" ", text)
    text = _tidy(strip_template_syntax(text))
    if len(text.split()) < _MIN_WORDS:
        skips.skip(page.url, "empty page (no text after extraction)")
        return None
    if title:
        # Site names in <title> ("Sync — Quillnote Help") add nothing to a passage title.
        title = re.split(r"\s+[|\u2013\u2014·]\s+|\s+-\s+", title)[0].strip() or title
    title = title or _first_heading(text) or _title_from_url(page.url)
    return ExtractedPage(url=page.url, title=strip_template_syntax(title).strip(), text=text)
