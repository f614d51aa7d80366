"""A site folder is read as it is: symbolic links out of it are not followed unless asked."""

from __future__ import annotations

from pathlib import Path

from embedtune.site.sources import SkipLog, read_folder


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
