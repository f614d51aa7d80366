from __future__ import annotations

import pytest

from embedtune.errors import DataError
from embedtune.recsys.schema import ITEM_ALIASES, LOG_ALIASES, normalise_event, resolve_columns


def test_tmall_log_and_catalog_names_are_recognised():
    log = resolve_columns("log.csv", ["user_id", "item_id", "cat_id", "seller_id", "brand_id", "time_stamp", "action_type"],
                          {}, LOG_ALIASES, required=("user", "item"))
    assert log.roles == {"user": "user_id", "item": "item_id", "time": "time_stamp", "event": "action_type"}
    items = resolve_columns("items.csv", ["item_id", "cat_id", "seller_id", "brand_id"], {}, ITEM_ALIASES)
    assert items.roles == {"item": "item_id", "category": "cat_id", "shop": "seller_id", "brand": "brand_id"}


def test_taobao_and_recbole_names_are_recognised():
    taobao = resolve_columns("x", ["user_id", "item_id", "cate_id", "behavior_type", "timestamp"], {}, LOG_ALIASES)
    assert taobao.roles["event"] == "behavior_type"
    assert resolve_columns("x", ["item_id", "cate_id"], {}, ITEM_ALIASES).roles["category"] == "cate_id"
    recbole = resolve_columns(
        "ml-100k.inter", ["user_id:token", "item_id:token", "rating:float", "timestamp:float"], {}, LOG_ALIASES
    )
    assert recbole.roles == {"user": "user_id:token", "item": "item_id:token", "time": "timestamp:float",
                             "rating": "rating:float"}
    movies = resolve_columns("ml-100k.item", ["item_id:token", "movie_title:token_seq", "class:token_seq"], {}, ITEM_ALIASES)
    assert movies.roles == {"item": "item_id:token", "title": "movie_title:token_seq", "category": "class:token_seq"}


def test_explicit_mapping_wins_and_leaves_the_rest_as_extra_columns():
    cols = ["buyer", "sku", "when", "item_id", "colour"]
    got = resolve_columns("x", cols, {"user": "buyer", "item": "sku", "time": "when"}, LOG_ALIASES)
    assert got.roles == {"user": "buyer", "item": "sku", "time": "when"}
    assert got.extra == ("item_id", "colour")


def test_missing_explicit_column_names_the_file_and_the_columns_it_has():
    with pytest.raises(DataError, match=r"log\.csv: no column 'buyer' for user \(columns: uid, sku\)"):
        resolve_columns("log.csv", ["uid", "sku"], {"user": "buyer"}, LOG_ALIASES)


def test_missing_required_role_is_an_error():
    with pytest.raises(DataError, match="no item column found"):
        resolve_columns("log.csv", ["user_id", "when"], {}, LOG_ALIASES, required=("user", "item"))


@pytest.mark.parametrize(
    ("raw", "column", "expected"),
    [("0", "action_type", "click"), ("1", "action_type", "cart"), ("2", "action_type", "buy"), ("3", "action_type", "fav"),
     ("2.0", "action_type", "buy"), ("pv", "behavior_type", "click"), ("Purchase", "event", "buy"),
     ("2", "event", "2"), (None, "event", "click"), ("share", "event", "share")],
)
def test_event_labels(raw, column, expected):
    assert normalise_event(raw, column) == expected


def test_user_event_map_comes_first():
    assert normalise_event("0", "action_type", {"0": "view"}) == "view"
