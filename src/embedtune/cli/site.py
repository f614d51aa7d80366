"""CLI commands for the site area (registered by :mod:`embedtune.cli`): ``embedtune site build``."""

from __future__ import annotations

from pathlib import Path

import typer

from embedtune.base_model import DEFAULT_BASE_MODEL
from embedtune.site import SiteBuildOptions, build_site_dataset
from embedtune.site import crawl as _crawl
from embedtune.site.build import DEFAULT_GENERATORS
from embedtune.site.chunk import DEFAULT_MAX_TOKENS
from embedtune.site.queries import DEFAULT_MAX_QUERIES_PER_PASSAGE, GENERATOR_NAMES
from embedtune.site.split import DEFAULT_DEV_FRACTION

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
    url: str = typer.Option(None, help="crawl this running site; with a folder/sitemap: the site's address for URLs"),
    max_pages: int = typer.Option(_crawl.DEFAULT_MAX_PAGES, help="pages to read at most"),
    max_depth: int = typer.Option(_crawl.DEFAULT_MAX_DEPTH, help="link depth from the start URL (crawl)"),
    rate: float = typer.Option(_crawl.DEFAULT_RATE, help="requests per second (crawl; robots.txt Crawl-delay wins if slower)"),
    questions: Path = typer.Option(None, help='real visitor questions, JSONL {"question", "url"[, "anchor"]}: the test split'),
    search_log: Path = typer.Option(
        None, help="site-search log export (CSV/TSV/JSONL: query + clicked URL or page id): real questions for the test split"
    ),
    generators: str = typer.Option(
        ",".join(DEFAULT_GENERATORS),
        help=f"comma-separated query generators: {', '.join(GENERATOR_NAMES)} (before: headings,keywords,sentences)",
    ),
    max_queries_per_passage: int = typer.Option(DEFAULT_MAX_QUERIES_PER_PASSAGE, help="cap on queries per passage"),
    max_train_pairs: int = typer.Option(None, help="keep a random sample of this many training pairs"),
    max_tokens: int = typer.Option(DEFAULT_MAX_TOKENS, help="passage length limit in model tokens (title included)"),
    base_model: str = typer.Option(DEFAULT_BASE_MODEL, help="model whose tokenizer measures passages"),
    dev_fraction: float = typer.Option(DEFAULT_DEV_FRACTION, help="share of passages held out for dev"),
    no_dedupe: bool = typer.Option(False, "--no-dedupe", help="keep exact and near-duplicate passages"),
    follow_links: bool = typer.Option(False, "--follow-links", help="read symbolic links that lead out of the source folder"),
    llm_url: str = typer.Option(None, help="OpenAI-compatible endpoint (enables the llm generator)"),
    llm_model: str = typer.Option(None, help="model name for --llm-url"),
    seed: int = typer.Option(42, help="random seed (split, sampling)"),
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
    options = SiteBuildOptions.checked(
        url=url,
        max_pages=max_pages,
        max_depth=max_depth,
        rate=rate,
        questions=questions,
        search_log=search_log,
        generators=[g for g in generators.split(",") if g.strip()],
        max_queries_per_passage=max_queries_per_passage,
        max_train_pairs=max_train_pairs,
        max_tokens=max_tokens,
        base_model=base_model,
        dev_fraction=dev_fraction,
        dedupe=not no_dedupe,
        follow_links=follow_links,
        llm_url=llm_url,
        llm_model=llm_model,
        seed=seed,
    )
    report = build_site_dataset(source, output, options, progress=not quiet, overwrite=overwrite)
    for line in report.summary_lines():
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(site_app, name="site")
