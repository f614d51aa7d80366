"""CLI commands for the report area (registered by :mod:`embedtune.cli`): ``report`` and ``compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("report")(report_command)
    app.command("compare")(compare_command)


def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A folder written by `embedtune train` or `embedtune eval --output`.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="HTML file to write (default RUN_DIR/report.html).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Write one self-contained HTML page with the run's verdict, baselines, plots and examples.

    Example:

        embedtune report runs/helpcenter                 # runs/helpcenter/report.html

        embedtune report runs/helpcenter -o helpcenter.html
    """
    from embedtune.report import write_report

    path = write_report(run_dir, output)
    if not quiet:
        typer.echo(f"wrote {path}")


def compare_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Two or more run folders (train or eval outputs).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("compare.html"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Put several runs on one page: metrics side by side, paired bootstrap against the first, curves, losses.

    Example:

        embedtune compare runs/recipe-a runs/recipe-b -o compare.html
    """
    from embedtune.report import write_comparison

    path = write_comparison(run_dirs, output)
    if not quiet:
        typer.echo(f"wrote {path}")
