"""CLI commands for the recsys area (registered by :mod:`embedtune.cli`).

``embedtune recsys build``, ``embedtune recsys generate`` and the top-level ``embedtune recommend``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from embedtune.base_model import DEFAULT_BASE_MODEL
from embedtune.cli.options import field_option
from embedtune.recsys.config import RECOMMEND_MODES, RecsysConfig

recsys_app = typer.Typer(
    help="Recommendation: interaction logs + item catalog → a DATA_DIR for train/eval, and a synthetic shop.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@recsys_app.command("build")
def build(
    log: Path = typer.Option(..., "--log", help="interaction log: CSV, TSV/.inter, Parquet or JSONL"),
    items: Path = typer.Option(..., "--items", help="item catalog (any attributes: category, shop, brand, title, ...)"),
    output: Path = typer.Option(..., "--output", "-o", help="DATA_DIR to write (BEIR layout, kind recsys)"),
    users: Path = typer.Option(None, "--users", help="optional user attributes file"),
    config: Path = typer.Option(None, "--config", help="YAML with recsys settings (top level or a recsys: block)"),
    user_column: str = typer.Option(None, help="log column of the user id (default: user_id and aliases)"),
    item_column: str = typer.Option(None, help="log column of the item id (default: item_id and aliases)"),
    time_column: str = typer.Option(None, help="log column of the timestamp (epoch or date; default: timestamp, time_stamp, ...)"),
    event_column: str = typer.Option(None, help="log column of the event type (default: action_type, behavior_type, ...)"),
    rating_column: str = typer.Option(None, help="log column of a numeric rating or weight"),
    catalog_item_column: str = typer.Option(None, help="catalog column of the item id"),
    category_column: str = typer.Option(None, help="catalog column of the category (default: category, cat_id, cate_id, ...)"),
    shop_column: str = typer.Option(None, help="catalog column of the shop (default: shop, seller_id, ...)"),
    brand_column: str = typer.Option(None, help="catalog column of the brand (default: brand, brand_id)"),
    title_column: str = typer.Option(None, help="catalog column of the title (default: title, name, ...)"),
    description_column: str = typer.Option(None, help="catalog column of the description"),
    users_user_column: str = typer.Option(None, help="users-file column of the user id"),
    event_map: str = typer.Option(None, help="raw event → label, e.g. '0=click,1=cart,2=buy,3=fav'"),
    category_separator: Annotated[str | None, field_option(RecsysConfig, "category_separator", "--category-sep")] = None,
    no_time: Annotated[bool | None, field_option(RecsysConfig, "no_time")] = None,
    split: Annotated[str | None, field_option(RecsysConfig, "split", metavar="[leave_one_out|time_cut]")] = None,
    time_cut: Annotated[str | None, field_option(RecsysConfig, "time_cut")] = None,
    k_core: Annotated[int | None, field_option(RecsysConfig, "k_core")] = None,
    max_train_per_user: Annotated[int | None, field_option(RecsysConfig, "max_train_per_user")] = None,
    hist_top_n: Annotated[int | None, field_option(RecsysConfig, "hist_top_n")] = None,
    hist_mode: Annotated[str | None, field_option(RecsysConfig, "hist_mode", metavar="[frequency|last]")] = None,
    recency_decay: Annotated[float | None, field_option(RecsysConfig, "recency_decay")] = None,
    history_window: Annotated[int | None, field_option(RecsysConfig, "history_window")] = None,
    hist_items: Annotated[int | None, field_option(RecsysConfig, "hist_items")] = None,
    description_chars: Annotated[int | None, field_option(RecsysConfig, "description_chars")] = None,
    keep_history: bool = typer.Option(None, "--keep-history", help="do not exclude a user's earlier items from ranking"),
    cold_threshold: Annotated[int | None, field_option(RecsysConfig, "cold_threshold")] = None,
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing DATA_DIR"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Build a recommendation DATA_DIR from an interaction log and an item catalog.

    Each user's profile before a target time t (HistCategories, HistShops, HistBrands,
    HistIntentions, HistItems, from events strictly before t) becomes a query; each catalog item
    becomes a document. Leave-one-out by time: the last new item of each user → test, the
    second-last → dev, earlier ones → train. Column names from Tmall/Taobao/Ali-CCP/RecBole are
    recognised; others are mapped with the --*-column flags or --config.

    Example:

        embedtune recsys build --log log.csv --items items.csv -o data/shop

        embedtune recsys build --log ml-100k.inter --items ml-100k.item -o data/ml --category-column class --category-sep ' '

        embedtune train --data data/shop --output models/shop

        embedtune eval --model models/shop --data data/shop --split test --output runs/shop
    """
    from embedtune.recsys.build import build_recsys
    from embedtune.recsys.config import load_recsys_config

    overrides = {
        "columns": {"user": user_column, "item": item_column, "time": time_column, "event": event_column,
                    "rating": rating_column},
        "item_columns": {"item": catalog_item_column, "category": category_column, "shop": shop_column,
                         "brand": brand_column, "title": title_column, "description": description_column},
        "user_columns": {"user": users_user_column},
        "event_map": event_map,
        "category_separator": category_separator,
        "no_time": no_time,
        "split": split,
        "time_cut": time_cut,
        "k_core": k_core,
        "max_train_per_user": max_train_per_user,
        "hist_top_n": hist_top_n,
        "hist_mode": hist_mode,
        "hist_items": hist_items,
        "recency_decay": recency_decay,
        "history_window": history_window,
        "description_chars": description_chars,
        "cold_threshold": cold_threshold,
        "exclude_history": False if keep_history else None,
    }
    settings = load_recsys_config(config, overrides)
    if quiet:
        logging.getLogger("embedtune.recsys").setLevel(logging.ERROR)
    report = build_recsys(log, items, output, users, settings, overwrite=overwrite, progress=not quiet)
    for line in report.summary_lines():
        typer.echo(line)
    if not quiet:
        typer.echo(f"next: embedtune train --data {output} --output models/{output.name}")


@recsys_app.command("generate")
def generate(
    output: Path = typer.Option(..., "--output", "-o", help="folder for log.<fmt> and items.<fmt>"),
    users: int = typer.Option(1000, "--users", help="number of users"),
    items: int = typer.Option(500, "--items", help="number of catalog items"),
    categories: int = typer.Option(12, help="number of categories (at most 20)"),
    events_per_user: float = typer.Option(20.0, help="mean clicks per user (carts, favs and buys come on top)"),
    uniform: bool = typer.Option(False, "--uniform", help="uniformly random clicks: nothing to learn"),
    no_attributes: bool = typer.Option(False, "--no-attributes", help="catalog with item ids only"),
    fmt: str = typer.Option("csv", "--format", help="csv, parquet or jsonl"),
    seed: int = typer.Option(0, help="random seed (same seed, same files)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="write into a folder that holds other files"),
) -> None:
    """Write a synthetic shop: users with tastes over categories, brands and shops; click/cart/fav/buy.

    Example:

        embedtune recsys generate -o data/raw/shop --users 2000 --items 800

        embedtune recsys build --log data/raw/shop/log.csv --items data/raw/shop/items.csv -o data/shop

        embedtune recsys generate -o data/raw/seed --users 200 --items 500 --uniform --no-attributes
    """
    from embedtune.fileio import check_output_dir
    from embedtune.recsys.generate import generate_shop, write_shop

    check_output_dir(output, overwrite=overwrite, producer="shop")
    shop = generate_shop(
        n_users=users, n_items=items, n_categories=categories, events_per_user=events_per_user,
        uniform=uniform, attributes=not no_attributes, seed=seed,
    )
    paths = write_shop(shop, output, fmt, overwrite=overwrite)
    typer.echo(f"wrote {paths['log']} ({len(shop.log):,} events) and {paths['items']} ({len(shop.items):,} items)")


def _check_mode(mode: str | None) -> str | None:
    if mode is not None and mode not in RECOMMEND_MODES:
        raise typer.BadParameter(f"{mode!r} is not one of {', '.join(RECOMMEND_MODES)}", param_hint="--mode")
    return mode


def recommend(
    model: str = typer.Option(None, "--model", "-m", help=f"trained model folder (or {DEFAULT_BASE_MODEL}); or give --index"),
    data: Path = typer.Option(None, "--data", help="recsys DATA_DIR built by `embedtune recsys build` (with --model)"),
    index: Path = typer.Option(None, "--index", help="index built from a recsys DATA_DIR: rank its vectors with its backend"),
    user: str = typer.Option(None, "--user", "-u", help="a user id from the log"),
    history: str = typer.Option(None, "--history", help="comma-separated item ids, oldest first"),
    k: int = typer.Option(10, "-k", min=1, help="number of items"),
    mode: str = typer.Option(
        None, "--mode", callback=_check_mode,
        help="text (the model), cooccurrence (item-to-item from training interactions) or hybrid (the model, "
        "co-occurrence, transitions, popularity and attributes fused with the weights fusion.json chose on dev); default: hybrid when "
        "fusion.json says it beat the text tower on dev, else text",
    ),
    show_profile: bool = typer.Option(False, "--show-profile", help="print the profile text the model sees"),
    as_json: bool = typer.Option(False, "--json", help="print JSON lines instead of a table"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar while encoding items"),
) -> None:
    """Recommend k items for a user of the log or for an ad-hoc history (history items excluded).

    Example:

        embedtune recommend --model models/shop --data data/shop --user 42 -k 5

        embedtune recommend --model models/shop --data data/shop --history 17,305,88 --mode cooccurrence --json

        embedtune recommend --index runs/shop-index --user 42 --mode hybrid
    """
    from embedtune.errors import EmbedtuneError
    from embedtune.recsys.recommend import Recommender

    if (user is None) == (history is None):
        raise EmbedtuneError("give exactly one of --user or --history")
    if (index is None) == (model is None):
        raise EmbedtuneError("give either --index, or --model with --data")
    items = [h.strip() for h in history.split(",")] if history is not None else None
    if quiet:
        from embedtune.base_model import silence_progress_bars

        silence_progress_bars()
    if index is not None:
        recommender = Recommender.from_index(index, data_dir=data)
    else:
        if data is None:
            raise EmbedtuneError("--model needs --data (the recsys DATA_DIR whose items to rank)")
        recommender = Recommender(model, data, show_progress=not quiet)
    if show_profile:
        typer.echo(recommender.profile(user_id=user, history=items))
        typer.echo("")
    ranking = recommender.rank(user_id=user, history=items, k=k, mode=mode)
    if ranking.fallback:
        typer.echo(f"note: {ranking.fallback}", err=True)
    if as_json:
        for r in ranking.items:
            typer.echo(json.dumps({"item_id": r.item_id, "score": r.score, "mode": ranking.mode, "metadata": r.metadata},
                                  ensure_ascii=False))
        return
    if not quiet:
        why = f" (default: {recommender.modes.reason})" if mode is None and ranking.fallback is None else ""
        typer.echo(f"mode: {ranking.mode}{why}")
    for rank, r in enumerate(ranking.items, start=1):
        meta = r.metadata
        label = meta.get("item_title") or ""
        details = ", ".join(str(meta[key]) for key in ("category", "brand", "shop") if meta.get(key))
        typer.echo(f"{rank:>3}. {r.item_id:<12} {r.score:.4f}  {label}" + (f"  [{details}]" if details else ""))


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(recsys_app, name="recsys")
    app.command("recommend")(recommend)
