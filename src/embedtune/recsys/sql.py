"""Quoting for DuckDB SQL text, where a value cannot be bound as a parameter.

Values go in as parameters (``con.execute("... read_csv(?)", [path])``) wherever DuckDB allows
them; a view definition cannot hold parameters and column names are never parameters, so those
two cases use the quoting below, and nothing else builds SQL around user-supplied text.
"""

from __future__ import annotations

from pathlib import Path


def literal(value: str | Path) -> str:
    """A single-quoted SQL string literal for ``value`` (a path or text)."""
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    """A double-quoted SQL identifier (a column named by the user's file)."""
    return '"' + name.replace('"', '""') + '"'


__all__ = ["ident", "literal"]
