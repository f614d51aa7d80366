"""Every setting of ``embedtune recsys build``, with its default, in one validated model.

A YAML config (``--config``) may hold these keys at top level or under a ``recsys:`` block; CLI flags
override it. Example::

    recsys:
      columns: {user: buyer, item: sku, time: ts, event: action_type}
      item_columns: {category: cat_id, shop: seller_id}
      hist_top_n: 5
      split: leave_one_out
      max_train_per_user: 20
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from embedtune.config import load_config
from embedtune.recsys.templates import DEFAULT_ITEM_TEMPLATE, DEFAULT_USER_TEMPLATE

# How `embedtune recommend` / POST /recommend rank: the text tower, item-to-item co-occurrence, or both
# fused with popularity (embedtune.recsys.recommend says which is the default and why).
RECOMMEND_MODES: tuple[str, ...] = ("text", "cooccurrence", "hybrid")


class RecsysConfig(BaseModel):
    """How a log + catalog become a recommendation DATA_DIR (all defaults documented here)."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str] = Field(
        default_factory=dict,
        description="log roles → column names: user, item, time, event, rating (unset roles use aliases)",
    )
    item_columns: dict[str, str] = Field(
        default_factory=dict,
        description="catalog roles → column names: item, category, shop, brand, title, description",
    )
    user_columns: dict[str, str] = Field(default_factory=dict, description="users file roles: user")
    event_map: dict[str, str] = Field(
        default_factory=dict, description="raw event value → label, e.g. {'0': click, '2': buy}"
    )
    category_separator: str | None = Field(
        None, description="split a multi-valued category field on this string (e.g. '|' for genres)"
    )
    no_time: bool = Field(False, description="no timestamp column: the file order is the time order")
    hist_top_n: int = Field(5, ge=1, le=50, description="values listed per Hist field")
    hist_mode: Literal["frequency", "last"] = Field(
        "frequency", description="frequency: top-N by recency-weighted count; last: the N most recent distinct values"
    )
    recency_decay: float = Field(
        0.9, gt=0, le=1, description="weight of an event k events before the target is decay**k (frequency mode)"
    )
    history_window: int = Field(50, ge=1, description="profiles look at the last N events before the target")
    hist_items: int = Field(5, ge=0, le=50, description="recent item titles in HistItems (0: none)")
    description_chars: int = Field(300, ge=0, description="item descriptions are cut to this many characters")
    split: Literal["leave_one_out", "time_cut"] = Field(
        "leave_one_out",
        description="leave_one_out: per user last new item → test, second-last → dev, rest → train; "
        "time_cut: items first seen after time_cut → test",
    )
    time_cut: float | str | None = Field(
        None, description="for split=time_cut: a timestamp (number or ISO date); default the 90% time quantile"
    )
    k_core: int = Field(0, ge=0, description="keep only users and items with at least k interactions (0: off)")
    max_train_per_user: int = Field(20, ge=1, description="training targets per user (the most recent ones)")
    exclude_history: bool = Field(True, description="never rank a user's earlier items for that user")
    cold_threshold: int = Field(5, ge=0, description="a target item with at most this many training interactions is 'cold'")
    user_template: str = Field(DEFAULT_USER_TEMPLATE, description="Jinja template of a user profile (query)")
    item_template: str = Field(DEFAULT_ITEM_TEMPLATE, description="Jinja template of an item (document)")

    @field_validator("event_map", mode="before")
    @classmethod
    def _event_map_text(cls, value: Any) -> Any:
        """``--event-map '0=click,1=cart,2=buy'`` (the CLI's form) as well as a mapping."""
        if not isinstance(value, str):
            return value
        pairs = [part.split("=", 1) for part in value.split(",") if part.strip()]
        if not pairs or any(len(pair) != 2 or not pair[0].strip() or not pair[1].strip() for pair in pairs):
            raise ValueError(f"{value!r}: expected raw=label pairs like 0=click,2=buy")
        return {raw.strip(): label.strip() for raw, label in pairs}

    @field_validator("columns", "item_columns", "user_columns")
    @classmethod
    def _known_roles(cls, value: dict[str, str], info: Any) -> dict[str, str]:
        allowed = {
            "columns": {"user", "item", "time", "event", "rating"},
            "item_columns": {"item", "category", "shop", "brand", "title", "description"},
            "user_columns": {"user"},
        }[info.field_name]
        unknown = set(value) - allowed
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; allowed: {sorted(allowed)}")
        return value


def load_recsys_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> RecsysConfig:
    """Read a YAML config (keys at top level or under ``recsys:``) and apply non-None overrides."""
    return load_config(RecsysConfig, path, overrides, section="recsys", what="recsys config")
