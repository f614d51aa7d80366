"""The ``embedtune`` command line: a thin shell over the library.

Each area registers its commands from its own module (``cli/core.py``, ``cli/site.py``,
``cli/recsys.py``, ``cli/serve.py``, ``cli/report.py``); every command parses, calls the library and
prints. Errors a user can fix (:class:`~embedtune.errors.EmbedtuneError`) print one line and exit 2.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from embedtune.cli import core, recsys, report, scale, serve, site
from embedtune.errors import EmbedtuneError

app = typer.Typer(
    name="embedtune",
    help="Fine-tune a compact embedding retriever on your own data and prove, with honest numbers, whether it helps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

for area in (core, site, recsys, serve, report, scale):
    area.register(app)


def _print_version(value: bool) -> None:
    if value:
        from embedtune._version import __version__

        typer.echo(f"embedtune {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Fine-tune a compact embedding retriever on your own data and prove, with honest numbers, whether it helps."""


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except EmbedtuneError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)
