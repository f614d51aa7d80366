"""CLI commands for the site area (registered by :mod:`embedtune.cli`): ``embedtune site build``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from embedtune.cli.options import config_flags
from embedtune.site import SiteBuildOptions, build_site_dataset
from embedtune.site.queries import DEFAULT_GENERATORS, GENERATOR_NAMES

site_app = typer.Typer(
    help="Site search: turn a website into training data for a retriever.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@site_app.command("build")
@config_flags(
    SiteBuildOptions,
    decls={"dedupe": ("--dedupe/--no-dedupe",), "follow_links": ("--follow-links",)},
    not_flags={"generators": "comma-separated --generators below; its help lists the registered generators"},
)
def build(
    source: str = typer.Argument(
        None, help="folder of HTML/Markdown/text pages, a sitemap.xml, a BEIR corpus.jsonl, or an http(s) URL to crawl",
        show_default=False,
    ),
    output: Path = typer.Option(..., "--output", "-o", help="DATA_DIR to write (BEIR layout)"),
    generators: str = typer.Option(
        ",".join(DEFAULT_GENERATORS),
        help=f"comma-separated query generators: {', '.join(GENERATOR_NAMES)} (before: headings,keywords,sentences)",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing DATA_DIR"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
    *,
    overrides: dict[str, Any],
) -> None:
    """Build a retrieval DATA_DIR (passages, queries, train/dev/test qrels, pairs.jsonl) from a site.

    Pages are cleaned (navigation, footers, cookie banners and template syntax removed), cut by section into passages of at most --max-tokens tokens, deduplicated, and given generated queries that do not copy their passage. Passages are split so that nothing judged in dev/test is trained on; with a search log of hundreds of searches, --real-train-fraction / --real-dev-fraction split the questions instead (held-out questions are never trained on, the pages they find are), so the model trains on real searches, dev choices are made on real ones and BM25 can be expanded with them. Give 30+ real questions (--questions or --search-log): without them only generated queries can score a model, and they are no evidence that visitors' searches improve. Bad pages are skipped and summarized, never fatal.

    Example:

        embedtune site build public/ -o data/site --url https://docs.example.com --questions questions.jsonl

        embedtune site build public/ -o data/site --search-log searches.csv

        embedtune site build public/ -o data/site --search-log searches.csv --real-train-fraction 0.6 --real-dev-fraction 0.1

        embedtune site build --url http://localhost:8000/ --max-pages 200 --rate 4 -o data/site

        embedtune train --data data/site --output models/site
    """
    given = {name: value for name, value in overrides.items() if value is not None}
    given["generators"] = [g for g in generators.split(",") if g.strip()]
    options = SiteBuildOptions.checked(**given)
    report = build_site_dataset(source, output, options, progress=not quiet, overwrite=overwrite)
    for line in report.summary_lines():
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(site_app, name="site")
