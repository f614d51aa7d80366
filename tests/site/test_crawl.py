"""Crawling a real HTTP server on loopback: same origin, robots.txt, page/depth limits, bad pages skipped."""

from __future__ import annotations

import functools
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from embedtune.site.crawl import CrawlLimits, crawl_site
from embedtune.site.sources import SkipLog


class _Handler(SimpleHTTPRequestHandler):
    """Static files, plus the failure modes a real site has."""

    def do_GET(self):  # noqa: N802
        if self.path == "/loop-a":
            return self._redirect("/loop-b")
        if self.path == "/loop-b":
            return self._redirect("/loop-a")
        if self.path == "/moved":
            return self._redirect("/docs/sync.html")
        if self.path == "/away":
            return self._redirect("http://127.0.0.1:9/elsewhere")
        if self.path == "/huge.html":
            body = b"<html><body><p>" + b"big page " * (10 * 1024 * 1024 // 9) + b"</p></body></html>"
            return self._send(body, "text/html")
        if self.path == "/latin1.html":
            return self._send("<html><body><p>Café crème for the whole team every morning.</p></body></html>".encode("latin-1"),
                              "text/html; charset=iso-8859-1")
        return super().do_GET()

    def _redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, body, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the crawler stops reading a page over its size limit

    def log_message(self, *args):
        pass


@pytest.fixture
def served_site(tmp_path, site_pages):
    root = tmp_path / "www"
    shutil.copytree(site_pages, root)
    # A hub page linking to every failure mode, and a chain for the depth limit.
    links = "".join(f'<a href="{href}">{href}</a> ' for href in (
        "/index.html", "/missing.html", "/loop-a", "/moved", "/away", "/huge.html", "/latin1.html", "/blob.html",
        "/empty.html", "/style.css", "mailto:team@inkpad.example", "http://127.0.0.1:9/other-origin.html", "/chain1.html",
    ))
    (root / "hub.html").write_text(f"<html><body><main><h1>Hub</h1><p>All the pages of the Inkpad site.</p>{links}</main></body></html>")
    for i in range(1, 6):
        (root / f"chain{i}.html").write_text(
            f'<html><body><main><h1>Chain {i}</h1><p>Link number {i} of the long chain of help pages.</p>'
            f'<a href="/chain{i + 1}.html">next</a></main></body></html>'
        )
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _paths(pages):
    return {page.url.split("/", 3)[3] for page in pages}


def test_crawl_follows_same_origin_links_and_honours_robots(served_site):
    skips = SkipLog()
    pages = crawl_site(served_site + "/", skips, CrawlLimits(rate=1000))
    paths = _paths(pages)
    assert {"", "docs/sync.html", "docs/export.md", "pricing.html"} <= paths
    assert "private/admin.html" not in paths
    assert skips.reasons["disallowed by robots.txt"] == 1
    assert next(p for p in pages if p.url.endswith("export.md")).kind == "markdown"


def test_bad_pages_are_skipped_with_counted_reasons_never_a_crash(served_site):
    skips = SkipLog()
    pages = crawl_site(served_site + "/hub.html", skips, CrawlLimits(rate=1000, max_depth=1, max_bytes=5 * 1024 * 1024))
    reasons = skips.reasons
    assert reasons["HTTP 404"] == 1
    assert reasons["redirect loop"] == 1
    assert reasons["redirects off the site"] == 1
    assert reasons["too large (over 5 MB)"] == 1
    assert reasons["binary file"] == 1
    paths = _paths(pages)
    # A declared charset is honoured; the redirect target is read once, under its own URL.
    assert "latin1.html" in paths and "docs/sync.html" in paths
    assert not any("other-origin" in p or p.endswith(".css") for p in paths)
    latin = next(p for p in pages if p.url.endswith("latin1.html"))
    assert "Café crème" in latin.content


def test_page_and_depth_limits(served_site):
    skips = SkipLog()
    pages = crawl_site(served_site + "/chain1.html", skips, CrawlLimits(rate=1000, max_depth=2))
    assert _paths(pages) == {"chain1.html", "chain2.html", "chain3.html"}
    pages = crawl_site(served_site + "/", SkipLog(), CrawlLimits(rate=1000, max_pages=2))
    assert len(pages) == 2


def test_rate_limit_spaces_requests(served_site, monkeypatch):
    sleeps = []
    monkeypatch.setattr("embedtune.site.crawl.time.sleep", lambda s: sleeps.append(s))
    crawl_site(served_site + "/chain1.html", SkipLog(), CrawlLimits(rate=2, max_depth=3))
    assert len(sleeps) >= 2 and all(0 < s <= 0.5 for s in sleeps)
