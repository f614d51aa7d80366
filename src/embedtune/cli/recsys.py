"""CLI commands for the recsys area (registered by :mod:`embedtune.cli`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
