"""`embedtune index build|add|delete|info`, `embedtune search` (both forms), `serve --help`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from embedtune.cli import serve as serve_cli
from embedtune.errors import EmbedtuneError
from embedtune.index import VectorIndex


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    serve_cli.register(app)
    return app


def run(app: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_build_search_add_delete(app, tiny_beir: Path, tmp_path: Path):
    index = tmp_path / "idx"
    out = run(app, "index", "build", "--model", "all-MiniLM-L6-v2", "--corpus", str(tiny_beir), "-o", str(index), "--quiet")
    assert "indexed 12 documents" in out and "exact" in out and "BM25 over" in out
    assert VectorIndex.load(index).manifest.model == "all-MiniLM-L6-v2"
    assert VectorIndex.load(index).manifest.lexical.documents == 12

    out = run(app, "search", str(index), "how do I turn on 2FA?", "-k", "2", "--quiet")
    assert out.splitlines()[0].endswith("[security-0]") and " 2. " in out

    new = tmp_path / "new.jsonl"
    new.write_text(
        json.dumps({"_id": "pigeon", "title": "Pigeons", "text": "Notes can be delivered by carrier pigeon.", "url": "https://x.test/p"}) + "\n"
        + json.dumps({"_id": "security-0", "title": "Security", "text": "Two-factor authentication now uses passkeys."}) + "\n",
        encoding="utf-8",
    )
    assert "added 1, updated 1" in run(app, "index", "add", str(index), "--corpus", str(new), "--quiet")
    out = run(app, "search", str(index), "carrier pigeon", "-k", "1", "--json", "--quiet")
    hit = json.loads(out.splitlines()[0])
    assert hit["id"] == "pigeon" and hit["url"] == "https://x.test/p"
    out = run(app, "search", str(index), "carrier pigeon", "-k", "1", "--json", "--quiet", "--mode", "lexical")
    assert json.loads(out.splitlines()[0])["id"] == "pigeon"  # the lexical part took the new document too
    assert VectorIndex.load(index).manifest.lexical.documents == 13

    assert "deleted 1 of 2 ids" in run(app, "index", "delete", str(index), "pigeon", "nope")
    info = json.loads(run(app, "index", "info", str(index)))
    assert info["live"] == 12 and info["rows"] == 14 and info["lexical"]["documents"] == 12
    out = run(app, "search", str(index), "carrier pigeon", "-k", "12", "--json", "--quiet", "--mode", "lexical")
    assert "pigeon" not in [json.loads(line)["id"] for line in out.splitlines()]


def test_site_form_builds_and_reuses_a_cached_index(app, tiny_beir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EMBEDTUNE_CACHE", str(tmp_path / "cache"))
    args = ("search", "--model", "all-MiniLM-L6-v2", "--corpus", str(tiny_beir), "where are my invoices?", "-k", "1", "--quiet")
    assert "[billing-2]" in run(app, *args)
    cached = [p for p in (tmp_path / "cache" / "indexes").iterdir() if not p.name.startswith(".")]
    assert len(cached) == 1
    stamp = (cached[0] / "index.json").stat().st_mtime_ns
    assert "[billing-2]" in run(app, *args)
    assert (cached[0] / "index.json").stat().st_mtime_ns == stamp


def test_bad_usage_is_explained(app, tmp_path: Path):
    result = CliRunner().invoke(app, ["search", "only-a-query"])
    assert result.exit_code == 2 and "give INDEX and" in result.output
    with pytest.raises(EmbedtuneError, match="not an embedtune index"):
        CliRunner().invoke(app, ["search", str(tmp_path), "q"], catch_exceptions=False)
    bad = tmp_path / "corpus.jsonl"
    bad.write_text('{"_id": "a", "text": "fine"}\n{"_id": "b"}\n', encoding="utf-8")
    with pytest.raises(EmbedtuneError, match=r"corpus.jsonl:2: missing field 'text'"):
        CliRunner().invoke(app, ["index", "build", "-m", "all-MiniLM-L6-v2", "-c", str(bad), "-o", str(tmp_path / "i"), "-q"],
                           catch_exceptions=False)
    assert not (tmp_path / "i").exists()


@pytest.mark.parametrize("command", [["index", "build"], ["index", "add"], ["index", "delete"], ["search"], ["serve"]])
def test_every_command_has_help_with_an_example(app, command):
    out = run(app, *command, "--help")
    assert "Example:" in out and "embedtune" in out
