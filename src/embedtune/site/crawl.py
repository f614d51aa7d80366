"""Crawl a running site: same origin only, robots.txt honoured, with page, depth and rate limits.

Breadth-first from the start URL, following ``<a href>`` links (and Markdown links in ``.md``
pages) on the same scheme, host and port. ``robots.txt`` is read with :mod:`urllib.robotparser`;
its ``Crawl-delay`` wins over ``rate`` when it is slower. Every page that cannot be used (HTTP
errors, redirect loops, redirects off the site, non-pages, pages over the size limit, undecodable
text) is skipped with a counted warning; the crawl itself never fails on a bad page.
"""

from __future__ import annotations

import logging
import re
import time
import urllib.robotparser
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit

from embedtune.errors import EmbedtuneError
from embedtune.site.sources import (
    DEFAULT_MAX_PAGE_BYTES,
    ROBOTS_USER_AGENT,
    Page,
    SkipLog,
    decode_page,
    kind_from_suffix,
    too_large,
)

log = logging.getLogger(__name__)

USER_AGENT = ROBOTS_USER_AGENT
DEFAULT_MAX_PAGES = 500
DEFAULT_MAX_DEPTH = 5
DEFAULT_RATE = 2.0  # requests per second
DEFAULT_TIMEOUT = 15.0
MAX_REDIRECTS = 5
_PAGE_TYPES = {"text/html": "html", "application/xhtml+xml": "html", "text/markdown": "markdown",
               "text/x-markdown": "markdown", "text/plain": "text"}
_ASSET = re.compile(r"\.(png|jpe?g|gif|svg|webp|ico|css|js|mjs|json|xml|pdf|zip|gz|tar|mp[34]|woff2?|ttf|eot)$",
                    re.IGNORECASE)
_MD_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


@dataclass(frozen=True)
class CrawlLimits:
    max_pages: int = DEFAULT_MAX_PAGES
    max_depth: int = DEFAULT_MAX_DEPTH
    rate: float = DEFAULT_RATE
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_PAGE_BYTES


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _normalize(url: str) -> str:
    url, _fragment = urldefrag(url)
    parts = urlsplit(url)
    path = parts.path or "/"
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower(), path=path).geturl()


def extract_links(page: Page) -> Iterator[str]:
    """Absolute link targets of a page (HTML ``<a href>``, or Markdown ``[text](target)``)."""
    if page.kind == "html":
        import lxml.html
        from lxml.etree import ParserError

        try:
            tree = lxml.html.fromstring(page.content)
        except (ParserError, ValueError):
            return
        for element in tree.iter("a"):
            href = element.get("href")
            if href:
                yield urljoin(page.url, href.strip())
    elif page.kind == "markdown":
        for match in _MD_LINK.finditer(page.content):
            yield urljoin(page.url, match.group(1))


def _read_robots(client, start_url: str) -> urllib.robotparser.RobotFileParser:
    import httpx

    robots_url = urljoin(start_url, "/robots.txt")
    parser = urllib.robotparser.RobotFileParser(robots_url)
    try:
        response = client.get(robots_url, follow_redirects=True)
    except httpx.HTTPError:
        parser.parse([])  # unreachable robots.txt: no rules (what browsers and most crawlers do)
        return parser
    if response.status_code in (401, 403):
        parser.disallow_all = True
    elif response.status_code >= 400:
        parser.parse([])
    else:
        parser.parse(response.text.splitlines())
    return parser


def _kind(content_type: str, url: str) -> str | None:
    mime = content_type.split(";")[0].strip().lower()
    kind = _PAGE_TYPES.get(mime)
    if kind == "text":  # static hosts serve .md as text/plain
        kind = kind_from_suffix("." + urlsplit(url).path.rsplit(".", 1)[-1]) if "." in urlsplit(url).path else "text"
    return kind


def _charset(content_type: str) -> str | None:
    match = re.search(r"charset=([\w-]+)", content_type, re.IGNORECASE)
    return match.group(1).lower() if match else None


def crawl_site(start_url: str, skips: SkipLog, limits: CrawlLimits = CrawlLimits(), progress: bool = False) -> list[Page]:
    """Fetch up to ``limits.max_pages`` pages of the site at ``start_url``."""
    import httpx
    from tqdm.auto import tqdm

    if urlsplit(start_url).scheme not in ("http", "https") or not urlsplit(start_url).netloc:
        raise EmbedtuneError(f"{start_url}: --url must be an http(s) address such as http://localhost:8000/")
    if limits.rate <= 0:
        raise EmbedtuneError("--rate must be a positive number of requests per second")
    origin = _origin(start_url)
    pages: list[Page] = []
    with httpx.Client(
        follow_redirects=False, timeout=limits.timeout,
        headers={"User-Agent": USER_AGENT},
    ) as client:
        robots = _read_robots(client, start_url)
        delay = 1.0 / limits.rate
        crawl_delay = robots.crawl_delay(USER_AGENT)
        if crawl_delay:
            delay = max(delay, float(crawl_delay))
        queue: deque[tuple[str, int]] = deque([(_normalize(start_url), 0)])
        seen = {queue[0][0]}
        last_request = 0.0
        bar = tqdm(total=limits.max_pages, desc="crawl", unit="page", disable=not progress)
        while queue and len(pages) < limits.max_pages:
            url, depth = queue.popleft()
            if not robots.can_fetch(USER_AGENT, url):
                skips.skip(url, "disallowed by robots.txt")
                continue
            wait = last_request + delay - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            last_request = time.monotonic()
            page = _fetch(client, url, origin, skips, limits.max_bytes, robots)
            if page is None:
                continue
            pages.append(page)
            seen.add(page.url)  # the target of a redirect is not fetched a second time
            bar.update(1)
            if depth >= limits.max_depth:
                continue
            for link in extract_links(page):
                link = _normalize(link)
                if link in seen or _origin(link) != origin or _ASSET.search(urlsplit(link).path):
                    continue
                seen.add(link)
                queue.append((link, depth + 1))
        bar.close()
    if queue and len(pages) >= limits.max_pages:
        skips.reasons["not fetched (over --max-pages)"] += len(queue)
    return pages


def _fetch(client, url: str, origin: tuple[str, str], skips: SkipLog, max_bytes: int, robots=None) -> Page | None:
    """GET one page, following redirects by hand so that none leaves the site or loops."""
    import httpx

    current, visited = url, {url}
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            with client.stream("GET", current) as response:
                if response.is_redirect:
                    target = _normalize(urljoin(current, response.headers.get("location", "")))
                    if _origin(target) != origin:
                        skips.skip(url, "redirects off the site")
                        return None
                    if target in visited:
                        skips.skip(url, "redirect loop")
                        return None
                    if robots is not None and not robots.can_fetch(USER_AGENT, target):
                        skips.skip(url, "redirects to a page disallowed by robots.txt")
                        return None
                    visited.add(target)
                    current = target
                    continue
                return _read_page(response, url, current, skips, max_bytes)
    except httpx.HTTPError as exc:
        skips.skip(url, f"fetch failed ({type(exc).__name__})")
        return None
    skips.skip(url, f"redirect loop (over {MAX_REDIRECTS} redirects)")
    return None


def _read_page(response, url: str, final_url: str, skips: SkipLog, max_bytes: int) -> Page | None:
    if response.status_code >= 400:
        skips.skip(url, f"HTTP {response.status_code}")
        return None
    content_type = response.headers.get("content-type", "text/html")
    kind = _kind(content_type, final_url)
    if kind is None:
        skips.skip(url, f"not a page ({content_type.split(';')[0].strip() or 'no content type'})")
        return None
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        skips.skip(url, too_large(max_bytes))
        return None
    body = bytearray()
    for chunk in response.iter_bytes():
        body.extend(chunk)
        if len(body) > max_bytes:
            break
    raw = bytes(body)
    charset = _charset(content_type)
    if charset and charset not in ("utf-8", "utf8") and len(raw) <= max_bytes:
        try:
            raw = raw.decode(charset).encode("utf-8")
        except (LookupError, UnicodeDecodeError):
            skips.skip(url, f"not decodable as its declared charset {charset}")
            return None
    text = decode_page(raw, url, skips, max_bytes)
    if text is None:
        return None
    return Page(url=final_url, content=text, kind=kind)
