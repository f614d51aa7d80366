"""Where pages come from: a folder of files, a ``sitemap.xml``, or a BEIR ``corpus.jsonl``.

Every reader returns :class:`Page` records and records each page it could not use in a
:class:`SkipLog` (a counted warning, summarized at the end), so one bad file never stops a build.
Crawling a running site lives in :mod:`embedtune.site.crawl` and returns the same records.
"""

from __future__ import annotations

import logging
import urllib.robotparser
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

from embedtune.errors import DataError, EmbedtuneError

log = logging.getLogger(__name__)

HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdx"})
TEXT_SUFFIXES = frozenset({".txt", ".text", ".rst"})
PAGE_SUFFIXES = HTML_SUFFIXES | MARKDOWN_SUFFIXES | TEXT_SUFFIXES
# A single page over this size is a dump, a log or an asset, not a page a visitor reads.
DEFAULT_MAX_PAGE_BYTES = 5 * 1024 * 1024
ROBOTS_USER_AGENT = "embedtune-site-crawler"


@dataclass(frozen=True)
class Page:
    """One raw page: where it lives (``url``) and its undecoded-for-us content as text."""

    url: str
    content: str
    kind: str  # "html" | "markdown" | "text"


@dataclass
class SkipLog:
    """Pages that were skipped, by reason: warnings that are counted and summarized, never fatal."""

    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, where: str, reason: str) -> None:
        self.reasons[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 5:
            self.examples[reason].append(where)
        log.info("skipped %s: %s", where, reason)

    @property
    def total(self) -> int:
        return sum(self.reasons.values())

    def summary(self) -> dict[str, object]:
        """JSON-ready summary: total, count per reason and up to five examples of each."""
        return {
            "total": self.total,
            "by_reason": dict(self.reasons.most_common()),
            "examples": {reason: list(urls) for reason, urls in self.examples.items()},
        }


def kind_from_suffix(suffix: str) -> str | None:
    suffix = suffix.lower()
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in TEXT_SUFFIXES:
        return "text"
    return None


def too_large(max_bytes: int) -> str:
    """The skip reason of a page over ``max_bytes`` (in MB when the limit is whole megabytes)."""
    mb, rest = divmod(max_bytes, 1024 * 1024)
    return f"too large (over {mb} MB)" if mb and not rest else f"too large (over {max_bytes:,} bytes)"


def decode_page(raw: bytes, where: str, skips: SkipLog, max_bytes: int = DEFAULT_MAX_PAGE_BYTES) -> str | None:
    """Decode page bytes as UTF-8, or record why the page is unusable and return ``None``."""
    if len(raw) > max_bytes:
        skips.skip(where, too_large(max_bytes))
        return None
    if b"\x00" in raw[:8192]:
        skips.skip(where, "binary file")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        skips.skip(where, "not UTF-8")
        return None
    if not text.strip():
        skips.skip(where, "empty page")
        return None
    return text


def url_for_file(rel: PurePosixPath, base_url: str | None) -> str:
    """The URL a static-site file is served at: ``docs/index.html`` → ``<base>/docs/``."""
    path = rel.as_posix()
    if rel.name.lower() in ("index.html", "index.htm"):
        path = path[: -len(rel.name)]
    return _on_base("/" + path, base_url) if base_url else "/" + path


def _on_base(url_path: str, base_url: str) -> str:
    """``url_path`` re-rooted on ``base_url`` (which may itself have a path: ``https://x.test/v2``)."""
    return urljoin(base_url.rstrip("/") + "/", url_path.lstrip("/"))


def _read_page_file(path: Path, where: str, skips: SkipLog, max_bytes: int) -> str | None:
    """A local page file's text, or ``None`` with the reason recorded (too large, unreadable, not text)."""
    try:
        if path.stat().st_size > max_bytes:  # never read a multi-GB dump into memory to reject it
            skips.skip(where, too_large(max_bytes))
            return None
        raw = path.read_bytes()
    except OSError as exc:
        skips.skip(where, f"unreadable ({exc.strerror})")
        return None
    return decode_page(raw, where, skips, max_bytes)


def read_folder(
    folder: str | Path,
    skips: SkipLog,
    base_url: str | None = None,
    max_pages: int | None = None,
    max_bytes: int = DEFAULT_MAX_PAGE_BYTES,
    follow_links: bool = False,
) -> list[Page]:
    """Read every HTML, Markdown and text file under ``folder`` (sorted, so builds are reproducible).

    URLs are the files' paths as a static host serves them, joined to ``base_url`` when given.
    Other files (images, CSS, ``sitemap.xml``, ``robots.txt``, JSON) are ignored silently: they
    are assets, not pages. A ``robots.txt`` at the folder's root is honoured as a crawl would be:
    the site's own statement of what is not for search. A symbolic link that leads out of
    ``folder`` is skipped (a site folder must not publish ``~/.ssh/id_rsa`` through a stray link)
    unless ``follow_links``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise EmbedtuneError(f"{folder}: not a folder")
    root = folder.resolve()
    robots = _read_robots_file(folder / "robots.txt")
    pages: list[Page] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = PurePosixPath(path.relative_to(folder).as_posix())
        if any(part.startswith(".") for part in rel.parts):
            continue
        kind = kind_from_suffix(path.suffix)
        if kind is None or (kind == "text" and path.name.lower() == "robots.txt"):
            continue
        if not follow_links and not path.resolve().is_relative_to(root):
            skips.skip(str(rel), "link to a file outside the source folder (pass --follow-links to read it)")
            continue
        if robots is not None and not robots.can_fetch(ROBOTS_USER_AGENT, url_for_file(rel, None)):
            skips.skip(str(rel), "disallowed by robots.txt")
            continue
        if max_pages is not None and len(pages) >= max_pages:
            skips.skip(str(rel), "over --max-pages")
            continue
        text = _read_page_file(path, str(rel), skips, max_bytes)
        if text is not None:
            pages.append(Page(url=url_for_file(rel, base_url), content=text, kind=kind))
    return pages


def _read_robots_file(path: Path) -> urllib.robotparser.RobotFileParser | None:
    if not path.is_file():
        return None
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(path.read_text(encoding="utf-8", errors="replace").splitlines())
    return parser


def parse_sitemap(path: str | Path) -> list[str]:
    """The ``<loc>`` URLs of a ``sitemap.xml`` (namespaces ignored), in file order."""
    from lxml import etree

    path = Path(path)
    try:
        tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))
    except (OSError, etree.XMLSyntaxError) as exc:
        raise DataError(path, f"not a readable sitemap: {exc}") from None
    return [el.text.strip() for el in tree.iter() if etree.QName(el).localname == "loc" and el.text and el.text.strip()]


def read_sitemap(
    sitemap: str | Path,
    skips: SkipLog,
    base_url: str | None = None,
    max_pages: int | None = None,
    max_bytes: int = DEFAULT_MAX_PAGE_BYTES,
) -> list[Page]:
    """Read the pages a local ``sitemap.xml`` lists, from the files beside it (a static-site build).

    ``https://example.com/docs/`` maps to ``docs/index.html`` (or ``docs.html``, ``docs.md``) under
    the sitemap's folder. Listed pages with no file are skipped with a warning. The page URLs are the
    sitemap's own (or re-rooted on ``base_url`` when given).
    """
    sitemap = Path(sitemap)
    root = sitemap.parent
    pages: list[Page] = []
    for loc in parse_sitemap(sitemap):
        if max_pages is not None and len(pages) >= max_pages:
            skips.skip(loc, "over --max-pages")
            continue
        url_path = urlsplit(loc).path or "/"
        file = _file_for_url_path(root, url_path)
        if file is None:
            skips.skip(loc, "listed in sitemap but no file found")
            continue
        kind = kind_from_suffix(file.suffix) or "html"
        text = _read_page_file(file, loc, skips, max_bytes)
        if text is None:
            continue
        url = _on_base(url_path, base_url) if base_url else loc
        pages.append(Page(url=url, content=text, kind=kind))
    return pages


def _file_for_url_path(root: Path, url_path: str) -> Path | None:
    rel = url_path.strip("/")
    candidates = []
    if not rel or url_path.endswith("/"):
        candidates += [f"{rel}/index.html", f"{rel}/index.htm", f"{rel}/index.md"]
    else:
        candidates += [rel, f"{rel}.html", f"{rel}.md", f"{rel}/index.html", f"{rel}/index.md"]
    root_resolved = root.resolve()
    for candidate in candidates:
        path = (root / candidate.lstrip("/")).resolve()
        # A sitemap must not point outside its own folder (``../../etc/passwd``).
        if path.is_file() and path.is_relative_to(root_resolved):
            return path
    return None
