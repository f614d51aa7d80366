"""Reading pages from a folder or a sitemap: URLs as a static host serves them, and nothing read from
outside the source (links, ``../`` in a sitemap) unless asked; unusable pages are skipped with a reason."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from embedtune.errors import DataError
from embedtune.site.sources import SkipLog, read_folder, read_sitemap, url_for_file


def _site_with_links(tmp_path: Path) -> Path:
    site, outside = tmp_path / "site", tmp_path / "outside"
    (site / "docs").mkdir(parents=True)
    outside.mkdir()
    (site / "index.html").write_text("<html><body><p>Welcome to the docs.</p></body></html>")
    (outside / "secret.md").write_text("# Private\n\nThe database password is hunter2.\n")
    (site / "docs" / "leak.md").symlink_to(outside / "secret.md")
    (site / "docs" / "alias.html").symlink_to(site / "index.html")  # stays inside: fine
    return site


def test_links_out_of_the_source_folder_are_skipped(tmp_path: Path):
    skips = SkipLog()
    pages = read_folder(_site_with_links(tmp_path), skips)
    assert sorted(p.url for p in pages) == ["/", "/docs/alias.html"]
    assert not any("hunter2" in p.content for p in pages)
    [reason] = skips.reasons
    assert "outside the source folder" in reason and skips.examples[reason] == ["docs/leak.md"]


def test_follow_links_reads_them(tmp_path: Path):
    pages = read_folder(_site_with_links(tmp_path), SkipLog(), follow_links=True)
    assert any("hunter2" in p.content for p in pages)


@pytest.mark.parametrize(("file", "base", "url"), [
    ("index.html", None, "/"), ("docs/index.htm", None, "/docs/"), ("docs/setup.md", None, "/docs/setup.md"),
    ("docs/index.html", "https://x.test/help", "https://x.test/help/docs/"),
    ("a b.html", "https://x.test/", "https://x.test/a b.html"),
])
def test_a_files_url_is_where_a_static_host_serves_it(file: str, base: str | None, url: str):
    assert url_for_file(PurePosixPath(file), base) == url


def test_hidden_files_assets_and_unusable_pages_are_left_out(tmp_path: Path):
    site = tmp_path / "site"
    (site / ".git").mkdir(parents=True)
    (site / ".git" / "notes.md").write_text("# internal\n")
    (site / "logo.png").write_bytes(b"\x89PNG\r\n")
    (site / "a.md").write_text("# A\n\nFirst page.\n")
    (site / "b.txt").write_text("Second page.\n")
    (site / "c.html").write_text("<p>Third page.</p>")
    (site / "empty.md").write_text("  \n")
    (site / "huge.html").write_text("<p>" + "x" * 5000 + "</p>")
    skips = SkipLog()
    pages = read_folder(site, skips, max_bytes=2048)
    assert [(p.url, p.kind) for p in pages] == [("/a.md", "markdown"), ("/b.txt", "text"), ("/c.html", "html")]
    assert skips.summary() == {"total": 2, "by_reason": {"empty page": 1, "too large (over 2,048 bytes)": 1},
                               "examples": {"empty page": ["empty.md"], "too large (over 2,048 bytes)": ["huge.html"]}}
    skips = SkipLog()
    assert [p.url for p in read_folder(site, skips, max_pages=2)] == ["/a.md", "/b.txt"]
    assert skips.reasons == {"over --max-pages": 3}


def test_a_sitemap_reads_only_files_in_its_own_folder(tmp_path: Path):
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (tmp_path / "secret.html").write_text("<p>hunter2</p>")
    (site / "index.html").write_text("<p>Home</p>")
    (site / "docs" / "setup.md").write_text("# Setup\n")
    locs = ["https://x.test/", "https://x.test/docs/setup", "https://x.test/../secret.html", "https://x.test/gone/"]
    (site / "sitemap.xml").write_text(
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc> {loc} </loc></url>" for loc in locs) + "</urlset>"
    )
    skips = SkipLog()
    pages = read_sitemap(site / "sitemap.xml", skips)
    assert [(p.url, p.kind) for p in pages] == [("https://x.test/", "html"), ("https://x.test/docs/setup", "markdown")]
    assert skips.reasons == {"listed in sitemap but no file found": 2} and "hunter2" not in str(pages)
    rerooted = read_sitemap(site / "sitemap.xml", SkipLog(), base_url="https://docs.example.com/v2")
    assert [p.url for p in rerooted] == ["https://docs.example.com/v2/", "https://docs.example.com/v2/docs/setup"]


def test_a_broken_sitemap_is_a_data_error_naming_it(tmp_path: Path):
    bad = tmp_path / "sitemap.xml"
    bad.write_text("<urlset><url><loc>https://x.test/</loc></url>")
    with pytest.raises(DataError, match=r"sitemap\.xml.*not a readable sitemap"):
        read_sitemap(bad, SkipLog())
