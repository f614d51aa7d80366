"""Column mapping for interaction logs, item catalogs and user tables, with the aliases shops use.

A *role* is what embedtune needs a column for (``user``, ``item``, ``time`` ...); the mapping says
which column of the user's file plays it. A role given explicitly (flag or config) must exist; a
role left out is looked up among well-known names, case-insensitively, ignoring RecBole's type
suffixes (``user_id:token`` matches ``user_id``):

=============  ==================================================================================
log ``user``   user_id, userid, user, uid, visitor_id, customer_id, reviewerID
log ``item``   item_id, itemid, item, iid, product_id, movie_id, asin, sku
log ``time``   timestamp, time_stamp (Tmall), time, ts, datetime, event_time, date, unixReviewTime
log ``event``  action_type (Tmall, 0..3 = click/cart/buy/fav), behavior_type (Taobao), event_type, event, btag, behavior, action
log ``rating`` rating, score, weight, stars, overall
``category``   category, cat_id (Tmall), cate_id (Taobao/Ali-CCP), category_id, genre, genres, class (RecBole ml-100k)
``shop``       shop, seller_id (Tmall), shop_id, merchant_id, seller, store, vendor
``brand``      brand, brand_id (Tmall/Ali-CCP)
``title``      title, name, item_name, movie_title (RecBole ml-100k), product_name, product_title
``description`` description, desc, item_description, summary
=============  ==================================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from embedtune.errors import DataError

LOG_ALIASES: dict[str, tuple[str, ...]] = {
    "user": ("user_id", "userid", "user", "uid", "visitor_id", "visitorid", "customer_id", "reviewerid"),
    "item": ("item_id", "itemid", "item", "iid", "product_id", "movie_id", "asin", "sku"),
    "time": ("timestamp", "time_stamp", "time", "ts", "datetime", "event_time", "date", "unixreviewtime"),
    "event": ("action_type", "behavior_type", "event_type", "event", "btag", "behavior", "action"),
    "rating": ("rating", "score", "weight", "stars", "overall"),
}
ITEM_ALIASES: dict[str, tuple[str, ...]] = {
    "item": LOG_ALIASES["item"],
    "category": ("category", "cat_id", "cate_id", "category_id", "categoryid", "genre", "genres", "class"),
    "shop": ("shop", "seller_id", "shop_id", "merchant_id", "seller", "store", "vendor"),
    "brand": ("brand", "brand_id"),
    "title": ("title", "name", "item_name", "movie_title", "product_name", "product_title"),
    "description": ("description", "desc", "item_description", "summary"),
}
USER_ALIASES: dict[str, tuple[str, ...]] = {"user": LOG_ALIASES["user"]}

REQUIRED_LOG_ROLES = ("user", "item")

# Tmall's ``action_type``: 0 click, 1 add-to-cart, 2 purchase, 3 add-to-favourite.
TMALL_ACTIONS = {"0": "click", "1": "cart", "2": "buy", "3": "fav"}
# Names other logs use for the same four intentions (Taobao UserBehavior: pv/cart/buy/fav).
EVENT_SYNONYMS = {
    "pv": "click", "view": "click", "click": "click", "clk": "click", "detail": "click",
    "cart": "cart", "addtocart": "cart", "add_to_cart": "cart", "add-to-cart": "cart",
    "buy": "buy", "purchase": "buy", "order": "buy", "transaction": "buy", "alipay": "buy",
    "fav": "fav", "favorite": "fav", "favourite": "fav", "like": "fav", "collect": "fav",
}
# Order intentions are listed in a profile: the funnel, then anything else alphabetically.
EVENT_ORDER = ("click", "cart", "fav", "buy")


def base_name(column: str) -> str:
    """``user_id:token`` → ``user_id`` (RecBole atomic files type their columns this way)."""
    return column.split(":", 1)[0].strip().lower()


@dataclass(frozen=True)
class ResolvedColumns:
    """Which column of a file plays each role (roles absent from the file are left out)."""

    path: Path
    roles: dict[str, str]
    extra: tuple[str, ...] = field(default=())

    def get(self, role: str) -> str | None:
        return self.roles.get(role)


def resolve_columns(
    path: str | Path,
    columns: Iterable[str],
    explicit: Mapping[str, str | None],
    aliases: Mapping[str, tuple[str, ...]],
    required: Iterable[str] = (),
) -> ResolvedColumns:
    """Map roles to the file's columns: explicit names first (must exist), then aliases.

    Raises :class:`DataError` naming the file and the columns it has when a required role, or an
    explicitly named column, is missing.
    """
    path = Path(path)
    columns = list(columns)
    by_base: dict[str, str] = {}
    for col in columns:
        by_base.setdefault(base_name(col), col)
    roles: dict[str, str] = {}
    for role, names in aliases.items():
        wanted = explicit.get(role)
        if wanted:
            if wanted in columns:
                roles[role] = wanted
            elif base_name(wanted) in by_base:
                roles[role] = by_base[base_name(wanted)]
            else:
                raise DataError(
                    path, f"no column {wanted!r} for {role} (columns: {', '.join(columns) or 'none'})",
                    hint=f"pass the right name with --{role}-column or in the config's columns block",
                )
            continue
        for name in names:
            if name in by_base and by_base[name] not in roles.values():
                roles[role] = by_base[name]
                break
    for role in required:
        if role not in roles:
            raise DataError(
                path, f"no {role} column found (columns: {', '.join(columns) or 'none'})",
                hint=f"name it with --{role}-column; recognised names: {', '.join(aliases[role])}",
            )
    used = set(roles.values())
    extra = tuple(c for c in columns if c not in used)
    return ResolvedColumns(path=path, roles=roles, extra=extra)


def normalise_event(value: str | None, column: str | None, event_map: Mapping[str, str] | None = None) -> str:
    """One event label: the user's map first, Tmall's 0..3 codes for ``action_type``, then synonyms."""
    if value is None:
        return "click"
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    if event_map and text in event_map:
        return event_map[text]
    if column is not None and base_name(column) == "action_type" and text in TMALL_ACTIONS:
        return TMALL_ACTIONS[text]
    return EVENT_SYNONYMS.get(text.lower(), text.lower() or "click")
