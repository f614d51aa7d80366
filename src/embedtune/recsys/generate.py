"""A synthetic shop: catalog + interaction log with learnable structure, deterministic by seed.

Items belong to a category; each category has its own brands and shops, and items get titles made
of their brand, an adjective and the category's product noun. Item popularity follows a Zipf law.
Each user has latent tastes: three favourite categories (weights 0.6/0.3/0.1) and a favourite brand
per favourite category; 15% of a user's visits go to a random category. Each visit is a click; a
click leads to a cart (10%), a favourite (5%), and a cart to a buy (50%), each a later event on the
same item. Timestamps grow per user with exponential gaps from a random start.

With ``uniform=True`` every click is a uniformly random item (no structure: nothing to learn), and
``attributes=False`` writes a catalog with item ids only — together, the seed project's scenario.

Everything is vectorised numpy, so 10 million events take seconds. Columns use Tmall's names
(``user_id, item_id, action_type, time_stamp``; ``cat_id, seller_id, brand_id``), so the
loader's aliases are exercised too.

Example::

    from embedtune.recsys.generate import generate_shop, write_shop
    shop = generate_shop(n_users=500, n_items=300, seed=0)
    write_shop(shop, "data/synthetic")       # log.csv + items.csv
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from embedtune.errors import EmbedtuneError
from embedtune.fileio import atomic_path, check_output_dir

CATEGORIES = (
    ("running shoes", "shoes"), ("rain jackets", "jacket"), ("coffee beans", "coffee"), ("yoga mats", "mat"),
    ("headphones", "headphones"), ("board games", "game"), ("cookware", "pan"), ("backpacks", "backpack"),
    ("skin care", "moisturizer"), ("garden tools", "trowel"), ("dog food", "kibble"), ("desk lamps", "lamp"),
    ("watches", "watch"), ("sunglasses", "sunglasses"), ("tea", "tea"), ("bicycles", "bike"),
    ("kids toys", "toy"), ("phone cases", "case"), ("perfume", "perfume"), ("notebooks", "notebook"),
)
ADJECTIVES = (
    "classic", "lightweight", "premium", "compact", "organic", "waterproof", "wireless", "ergonomic",
    "vintage", "eco", "pro", "deluxe", "travel", "everyday", "sport", "mini",
)
BRAND_SYLLABLES = ("ka", "lo", "mi", "ra", "ve", "zu", "no", "ta", "pe", "si", "do", "ru")
ACTION_CODES = {"click": 0, "cart": 1, "buy": 2, "fav": 3}  # Tmall's action_type
#: Where a visit goes: the user's 1st / 2nd / 3rd favourite category (0.6 / 0.3 / 0.1 of 85%), or a random one (15%).
SLOT_P = (0.6 * 0.85, 0.3 * 0.85, 0.1 * 0.85, 0.15)


@dataclass(frozen=True)
class ShopTastes:
    """The latent truth the clicks were drawn from (for diagnostics: the ceiling any recommender can reach)."""

    item_category: np.ndarray  # per item row, its category
    item_brand: np.ndarray  # per item row, its brand (category * brands_per_category + brand in category)
    popularity: np.ndarray  # per item row, its Zipf weight
    favourite_categories: np.ndarray  # users × 3
    favourite_brands: np.ndarray  # users × 3: brand within each favourite category
    n_categories: int
    brands_per_category: int

    def click_probabilities(self) -> np.ndarray:
        """``P[user, item]``: the probability that a click of user row ``user`` goes to item row ``item``
        (rows sum to 1) — the generator's own model (module docstring), computed instead of sampled."""
        n_items, n_categories = len(self.popularity), self.n_categories

        def within(groups: np.ndarray, n_groups: int) -> np.ndarray:
            m = np.zeros((n_groups, n_items))
            m[groups, np.arange(n_items)] = self.popularity
            sums = m.sum(1, keepdims=True)
            return np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)

        by_cat = within(self.item_category, n_categories)
        by_brand = within(self.item_brand, n_categories * self.brands_per_category)
        has_items = by_brand.sum(1) > 0
        n_users = len(self.favourite_categories)
        probs = np.full((n_users, n_items), SLOT_P[3] / n_categories) * by_cat.sum(0)[None, :]
        for s in range(3):
            cat = self.favourite_categories[:, s]
            brand = cat * self.brands_per_category + self.favourite_brands[:, s]
            # Half the visits want the favourite brand; a brand without items falls back to the category draw.
            branded = np.where(has_items[brand][:, None], by_brand[brand], by_cat[cat])
            probs += SLOT_P[s] * (0.5 * by_cat[cat] + 0.5 * branded)
        return probs


@dataclass
class SyntheticShop:
    """The generated tables: ``log`` (user_id, item_id, action_type, time_stamp) and ``items``; ``tastes``,
    the latent truth behind the log (None for ``uniform`` clicks; user row u is user_id u + 1)."""

    log: pd.DataFrame
    items: pd.DataFrame
    tastes: ShopTastes | None = None


def _brand_names(n: int, rng: np.random.Generator) -> list[str]:
    names: set[str] = set()
    out = []
    while len(out) < n:
        k = int(rng.integers(2, 4))
        name = "".join(rng.choice(BRAND_SYLLABLES, size=k)).capitalize()
        if name not in names:
            names.add(name)
            out.append(name)
    return out


def generate_shop(
    n_users: int = 1000,
    n_items: int = 500,
    n_categories: int = 12,
    events_per_user: float = 20.0,
    brands_per_category: int = 4,
    shops_per_category: int = 3,
    zipf: float = 1.1,
    uniform: bool = False,
    attributes: bool = True,
    seed: int = 0,
) -> SyntheticShop:
    """Generate a catalog and an interaction log (see the module docstring for the model)."""
    if n_users < 1 or n_items < 2:
        raise EmbedtuneError("need at least 1 user and 2 items")
    if not 1 <= n_categories <= len(CATEGORIES):
        raise EmbedtuneError(f"n_categories must be between 1 and {len(CATEGORIES)}")
    rng = np.random.default_rng(seed)

    # Catalog.
    item_cat = np.sort(rng.integers(0, n_categories, size=n_items))
    item_cat[:n_categories] = np.arange(min(n_categories, n_items))  # every category has an item
    item_cat = np.sort(item_cat)
    brands = _brand_names(n_categories * brands_per_category, rng)
    item_brand = item_cat * brands_per_category + rng.integers(0, brands_per_category, size=n_items)
    item_shop = item_cat * shops_per_category + rng.integers(0, shops_per_category, size=n_items)
    popularity = 1.0 / np.arange(1, n_items + 1) ** zipf
    popularity = popularity[rng.permutation(n_items)]
    # Integer ids keep a 10-million-row log small in memory (the loader reads every id as text).
    item_ids = np.arange(1, n_items + 1, dtype=np.int64)
    adjectives = rng.choice(ADJECTIVES, size=n_items)
    titles = [
        f"{brands[b]} {adj} {CATEGORIES[c][1]}" for b, adj, c in zip(item_brand, adjectives, item_cat, strict=True)
    ]
    items = pd.DataFrame({"item_id": item_ids})
    if attributes:
        items["cat_id"] = [CATEGORIES[c][0] for c in item_cat]
        items["seller_id"] = [f"shop{s + 1}" for s in item_shop]
        items["brand_id"] = [brands[b] for b in item_brand]
        items["title"] = titles
        items["price"] = np.round(rng.lognormal(3.0, 0.6, size=n_items), 2)

    # Users: number of clicks, taste.
    n_clicks = 2 + rng.poisson(max(events_per_user - 2.0, 0.0), size=n_users)
    user_of = np.repeat(np.arange(n_users), n_clicks)
    total = len(user_of)
    tastes = None
    if uniform:
        clicked = rng.integers(0, n_items, size=total)
    else:
        fav_cats = np.stack([rng.permutation(n_categories)[:3] for _ in range(n_users)]) if n_categories >= 3 else (
            rng.integers(0, n_categories, size=(n_users, 3))
        )
        slot = rng.choice(4, size=total, p=list(SLOT_P))
        cat = np.where(slot < 3, fav_cats[user_of, np.minimum(slot, 2)], rng.integers(0, n_categories, size=total))
        # Within a category, pick an item by popularity × a boost for the user's favourite brand there.
        fav_brand = rng.integers(0, brands_per_category, size=(n_users, 3))
        want_brand = rng.random(total) < 0.5
        target_brand = cat * brands_per_category + fav_brand[user_of, np.minimum(slot, 2)]
        clicked = _sample_in_category(cat, item_cat, popularity, rng)
        branded = _sample_in_category(target_brand, item_brand, popularity, rng, fallback=clicked)
        clicked = np.where(want_brand & (slot < 3), branded, clicked)
        tastes = ShopTastes(item_cat, item_brand, popularity, fav_cats, fav_brand, n_categories, brands_per_category)

    # Funnel: extra events on the same item, shortly after the click.
    gaps = rng.exponential(3600.0, size=total)
    starts = rng.uniform(1_700_000_000, 1_700_000_000 + 30 * 86400, size=n_users)
    first = np.concatenate([[0], np.cumsum(n_clicks)[:-1]])
    cum = np.cumsum(gaps)
    click_time = starts[user_of] + cum - cum[first][user_of]
    cart = rng.random(total) < 0.10
    fav = rng.random(total) < 0.05
    buy = cart & (rng.random(total) < 0.5)
    parts = [(np.arange(total), "click", 0.0)]
    parts += [(np.nonzero(cart)[0], "cart", 60.0), (np.nonzero(fav)[0], "fav", 30.0), (np.nonzero(buy)[0], "buy", 300.0)]
    idx = np.concatenate([p[0] for p in parts])
    action = np.concatenate([np.full(len(p[0]), ACTION_CODES[p[1]]) for p in parts])
    when = np.concatenate([click_time[p[0]] + p[2] for p in parts])
    order = np.lexsort((action, when, user_of[idx]))
    log = pd.DataFrame({
        "user_id": (user_of[idx][order] + 1).astype(np.int64),
        "item_id": item_ids[clicked[idx][order]],
        "action_type": action[order].astype(np.int64),
        "time_stamp": np.floor(when[order]).astype(np.int64),
    })
    return SyntheticShop(log=log, items=items, tastes=tastes)


def _sample_in_category(
    wanted: np.ndarray, group_of_item: np.ndarray, weight: np.ndarray, rng: np.random.Generator, fallback=None
) -> np.ndarray:
    """For each event, an item from group ``wanted[e]`` drawn with probability ∝ ``weight``.

    Vectorised: items sorted by group get a cumulative weight normalised to [g, g+1) inside group g,
    so one ``searchsorted`` of ``g + u`` draws every event at once.
    """
    order = np.argsort(group_of_item, kind="stable")
    groups = group_of_item[order]
    w = weight[order]
    n_groups = int(max(groups.max(), wanted.max())) + 1
    sums = np.bincount(groups, weights=w, minlength=n_groups)
    starts = np.searchsorted(groups, np.arange(n_groups))
    csum = np.cumsum(w)
    before = np.where(starts > 0, csum[np.maximum(starts - 1, 0)], 0.0)
    cum = groups + (csum - before[groups]) / np.maximum(sums[groups], 1e-300)
    u = rng.random(len(wanted))
    pos = np.searchsorted(cum, wanted + u, side="left")
    pos = np.minimum(pos, len(order) - 1)
    picked = order[pos]
    ok = group_of_item[picked] == wanted
    if fallback is not None:
        picked = np.where(ok, picked, fallback)
    return picked


def write_shop(shop: SyntheticShop, out_dir: str | Path, fmt: str = "csv", overwrite: bool = False) -> dict[str, Path]:
    """Write ``log.<fmt>`` and ``items.<fmt>`` (csv, parquet or jsonl) atomically into ``out_dir``
    (a new, empty or earlier such folder; one holding other files only with ``overwrite``)."""
    out_dir = check_output_dir(out_dir, overwrite=overwrite, producer="shop")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in (("log", shop.log), ("items", shop.items)):
        path = out_dir / f"{name}.{fmt}"
        with atomic_path(path) as tmp:
            if fmt == "csv":
                frame.to_csv(tmp, index=False)
            elif fmt == "parquet":
                frame.to_parquet(tmp, index=False)
            elif fmt == "jsonl":
                frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
            else:
                raise EmbedtuneError(f"unknown format {fmt!r} (csv, parquet or jsonl)")
        paths[name] = path
    return paths
