"""Without the [pg] extra the store says how to install it (no server needed)."""

from __future__ import annotations

import builtins

import pytest

from embedtune.store.postgres import PgVectorStore, StoreError


def test_missing_psycopg_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_pg(name, *args, **kwargs):
        if name.split(".")[0] in ("psycopg", "pgvector"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pg)
    with pytest.raises(StoreError, match=r"pip install 'embedtune\[pg\]'"):
        PgVectorStore("postgresql://app:pw@db/search", "docs").info()
