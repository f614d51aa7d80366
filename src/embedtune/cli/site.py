"""CLI commands for the site area (registered by :mod:`embedtune.cli`): ``embedtune site build``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedtune.cli.options import field_option
from embedtune.site import SiteBuildOptions, build_site_dataset
from embedtune.site.build import DEFAULT_GENERATORS
from embedtune.site.queries import GENERATOR_NAMES

site_app = typer.Typer(
    help="Site search: turn a website into training data for a retriever.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@site_app.command("build")
def build(
    source: str = typer.Argument(
        None, help="folder of HTML/Markdown/text pages, a sitemap.xml, a BEIR corpus.jsonl, or an http(s) URL to crawl",
        show_default=False,
    ),
    output: Path = typer.Option(..., "--output", "-o", help="DATA_DIR to write (BEIR layout)"),
    url: Annotated[str | None, field_option(SiteBuildOptions, "url")] = None,
    max_pages: Annotated[int | None, field_option(SiteBuildOptions, "max_pages")] = None,
    max_depth: Annotated[int | None, field_option(SiteBuildOptions, "max_depth")] = None,
    rate: Annotated[float | None, field_option(SiteBuildOptions, "rate")] = None,
    timeout: Annotated[float | None, field_option(SiteBuildOptions, "timeout")] = None,
    max_page_bytes: Annotated[int | None, field_option(SiteBuildOptions, "max_page_bytes")] = None,
    questions: Annotated[Path | None, field_option(SiteBuildOptions, "questions")] = None,
    search_log: Annotated[Path | None, field_option(SiteBuildOptions, "search_log")] = None,
    generators: str = typer.Option(
        ",".join(DEFAULT_GENERATORS),
        help=f"comma-separated query generators: {', '.join(GENERATOR_NAMES)} (before: headings,keywords,sentences)",
    ),
    max_queries_per_passage: Annotated[int | None, field_option(SiteBuildOptions, "max_queries_per_passage")] = None,
    max_train_pairs: Annotated[int | None, field_option(SiteBuildOptions, "max_train_pairs")] = None,
    max_tokens: Annotated[int | None, field_option(SiteBuildOptions, "max_tokens")] = None,
    base_model: Annotated[str | None, field_option(SiteBuildOptions, "base_model")] = None,
    dev_fraction: Annotated[float | None, field_option(SiteBuildOptions, "dev_fraction")] = None,
    max_dev_passages: Annotated[int | None, field_option(SiteBuildOptions, "max_dev_passages")] = None,
    no_dedupe: bool = typer.Option(False, "--no-dedupe", help="keep exact and near-duplicate passages"),
    near_duplicate_threshold: Annotated[float | None, field_option(SiteBuildOptions, "near_duplicate_threshold")] = None,
    follow_links: bool = typer.Option(False, "--follow-links", help="read symbolic links that lead out of the source folder"),
    llm_url: Annotated[str | None, field_option(SiteBuildOptions, "llm_url")] = None,
    llm_model: Annotated[str | None, field_option(SiteBuildOptions, "llm_model")] = None,
    seed: Annotated[int | None, field_option(SiteBuildOptions, "seed")] = None,
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing DATA_DIR"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """Build a retrieval DATA_DIR (passages, queries, train/dev/test qrels, pairs.jsonl) from a site.

    Pages are cleaned (navigation, footers, cookie banners and template syntax removed), cut by section into passages of at most --max-tokens tokens, deduplicated, and given generated queries that do not copy their passage. Passages are split so that nothing judged in dev/test is trained on. Give 30+ real questions (--questions or --search-log): without them only generated queries can score a model, and they are no evidence that visitors' searches improve. Bad pages are skipped and summarized, never fatal.

    Example:

        embedtune site build public/ -o data/site --url https://docs.example.com --questions questions.jsonl

        embedtune site build public/ -o data/site --search-log searches.csv

        embedtune site build --url http://localhost:8000/ --max-pages 200 --rate 4 -o data/site

        embedtune train --data data/site --output models/site
    """
    flags = {
        "url": url, "max_pages": max_pages, "max_depth": max_depth, "rate": rate, "timeout": timeout,
        "max_page_bytes": max_page_bytes, "questions": questions, "search_log": search_log,
        "generators": [g for g in generators.split(",") if g.strip()],
        "max_queries_per_passage": max_queries_per_passage, "max_train_pairs": max_train_pairs,
        "max_tokens": max_tokens, "base_model": base_model, "dev_fraction": dev_fraction,
        "max_dev_passages": max_dev_passages, "dedupe": False if no_dedupe else None,
        "near_duplicate_threshold": near_duplicate_threshold, "follow_links": follow_links or None, "llm_url": llm_url,
        "llm_model": llm_model, "seed": seed,
    }
    options = SiteBuildOptions.checked(**{name: value for name, value in flags.items() if value is not None})
    report = build_site_dataset(source, output, options, progress=not quiet, overwrite=overwrite)
    for line in report.summary_lines():
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(site_app, name="site")
