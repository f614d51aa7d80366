from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from embedtune.errors import DataError
from embedtune.recsys.config import RecsysConfig
from embedtune.recsys.load import load_shop_log
from tests.recsys.conftest import TINY_ITEMS, write


def events(shop) -> list[tuple]:
    return shop.con.execute("SELECT user_id, item_id, ts, event FROM events ORDER BY user_id, ts, src_row").fetchall()


def test_unknown_items_and_duplicates_are_kept_out_and_counted(tiny_shop):
    shop = load_shop_log(*tiny_shop)
    r = shop.report
    assert (r.log_rows, r.events, r.unknown_item_events, r.unknown_items, r.duplicate_events) == (10, 8, 1, 1, 1)
    assert r.events_by_type == {"click": 6, "buy": 1, "cart": 1}
    assert ("u2", "i9", 160.0, "click") not in events(shop)
    assert events(shop).count(("u2", "i3", 150.0, "click")) == 1


def test_missing_timestamp_column_is_an_error_unless_no_time(tmp_path):
    log = write(tmp_path / "log.csv", "user_id,item_id\nu1,i2\nu1,i1\n")
    items = write(tmp_path / "items.csv", TINY_ITEMS)
    with pytest.raises(DataError, match=r"no timestamp column.*--no-time"):
        load_shop_log(log, items)
    shop = load_shop_log(log, items, config=RecsysConfig(no_time=True))
    assert [e[1] for e in events(shop)] == ["i2", "i1"]  # file order is time order


def test_empty_timestamp_names_its_line(tmp_path):
    log = write(tmp_path / "log.csv", "user_id,item_id,timestamp\nu1,i1,5\nu1,i2,\nu2,i2,\n")
    with pytest.raises(DataError, match=r"log\.csv:3: missing timestamp in column 'timestamp' \(2 rows like this\)"):
        load_shop_log(log, write(tmp_path / "items.csv", TINY_ITEMS))


def test_dates_and_epoch_seconds_both_order_events(tmp_path):
    log = write(tmp_path / "log.csv", "user_id,item_id,timestamp\nu1,i1,2024-05-02\nu1,i2,2024-05-01 08:00:00\n")
    shop = load_shop_log(log, write(tmp_path / "items.csv", TINY_ITEMS))
    assert [e[1] for e in events(shop)] == ["i2", "i1"]
    bad = write(tmp_path / "bad.csv", "user_id,item_id,timestamp\nu1,i1,yesterday\n")
    with pytest.raises(DataError, match=r"bad\.csv:2: timestamp 'yesterday'"):
        load_shop_log(bad, tmp_path / "items.csv")


def test_non_numeric_rating_names_line_and_value(tmp_path):
    log = write(tmp_path / "log.csv", "user_id,item_id,rating,timestamp\nu1,i1,4,1\nu1,i2,great,2\n")
    with pytest.raises(DataError, match=r"log\.csv:3: rating 'great' in column 'rating' is not a number"):
        load_shop_log(log, write(tmp_path / "items.csv", TINY_ITEMS))


def test_ratings_become_intentions_when_there_is_no_event_column(tmp_path):
    log = write(tmp_path / "log.csv", "user_id,item_id,rating,timestamp\nu1,i1,4,1\nu1,i2,3.5,2\n")
    shop = load_shop_log(log, write(tmp_path / "items.csv", TINY_ITEMS))
    assert [e[3] for e in events(shop)] == ["rated 4", "rated 3.5"]


def test_malformed_csv_row_names_its_line(tmp_path):
    log = write(tmp_path / "log.csv", "user_id,item_id,timestamp\nu1,i1,1\nu1,i2,2,extra\n")
    with pytest.raises(DataError, match=r"log\.csv:3: cannot read interaction log"):
        load_shop_log(log, write(tmp_path / "items.csv", TINY_ITEMS))


def test_non_utf8_file_is_a_data_error(tmp_path):
    log = tmp_path / "log.csv"
    log.write_bytes(b"user_id,item_id,timestamp\nu1,caf\xe9,1\n")
    with pytest.raises(DataError, match=r"log\.csv:2: .*(unicode|UTF-8)"):
        load_shop_log(log, write(tmp_path / "items.csv", TINY_ITEMS))


def test_duplicate_catalog_id_names_the_second_line(tmp_path):
    items = write(tmp_path / "items.csv", "item_id,title\ni1,A\ni2,B\ni1,C\n")
    with pytest.raises(DataError, match=r"items\.csv:4: duplicate item id 'i1'"):
        load_shop_log(write(tmp_path / "log.csv", "user_id,item_id,timestamp\nu1,i1,1\n"), items)


def test_empty_user_id_names_its_line(tmp_path):
    log = write(tmp_path / "log.csv", "user_id,item_id,timestamp\nu1,i1,1\n ,i2,2\n")
    with pytest.raises(DataError, match=r"log\.csv:3: empty user id"):
        load_shop_log(log, write(tmp_path / "items.csv", TINY_ITEMS))


def test_log_with_no_catalog_item_is_an_error(tmp_path):
    log = write(tmp_path / "log.csv", "user_id,item_id,timestamp\nu1,x1,1\nu1,x2,2\n")
    with pytest.raises(DataError, match="no event refers to an item of the catalog"):
        load_shop_log(log, write(tmp_path / "items.csv", TINY_ITEMS))


def test_parquet_and_jsonl_inputs_read_like_csv(tmp_path):
    frame = pd.DataFrame({"user_id": [1, 1], "item_id": ["i1", "i2"], "time_stamp": [10, 20], "action_type": [0, 2]})
    frame.to_parquet(tmp_path / "log.parquet")
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"item_id": i, "cate_id": c}) + "\n" for i, c in [("i1", "a"), ("i2", "b")]))
    shop = load_shop_log(tmp_path / "log.parquet", items)
    assert events(shop) == [("1", "i1", 10.0, "click"), ("1", "i2", 20.0, "buy")]
    assert shop.item_fields == ("category",)


def test_recbole_atomic_files_are_tab_separated(tmp_path):
    inter = write(tmp_path / "ml.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t5\t100\n")
    item = write(tmp_path / "ml.item", 'item_id:token\tmovie_title:token_seq\tclass:token_seq\n10\tHeat, "The" (1995)\tAction Crime\n')
    shop = load_shop_log(inter, item)
    assert shop.con.execute("SELECT title, category FROM items").fetchall() == [('Heat, "The" (1995)', "Action Crime")]


def test_unsupported_suffix(tmp_path: Path):
    with pytest.raises(DataError, match="unsupported file type"):
        load_shop_log(write(tmp_path / "log.xlsx", "x"), write(tmp_path / "items.csv", TINY_ITEMS))


# What DuckDB says about itself: the SQL it ran, its error classes and its option dumps.
DUCKDB_INTERNALS = ("LINE 1", "CREATE", "read_csv", "read_json", "read_ndjson", "Error:", "Possible", "strict_mode",
                    "This can happen")
LOG_HEADER = "user_id,item_id,timestamp\n"


@pytest.mark.parametrize(
    ("name", "content", "where", "cause"),
    [
        ("log.csv", (LOG_HEADER + "u1,i1,1\nu1,caf\xe9,2\n").encode("latin-1"), "log.csv:3", "not valid UTF-8"),
        ("log.jsonl", b'{"user_id": "u1", "item_id": "i1", "timestamp": 1}\n{"user_id": "u1", "item_id": "caf\xe9"}\n',
         "log.jsonl:2", "not valid UTF-8"),
        ("log.csv", (LOG_HEADER + 'u1,i1,1\nu1,"i2,2\nu2,i3,3\nu3,i1,4\n').encode(), "log.csv:3", "unterminated quote"),
        ("log.csv", (LOG_HEADER + "u1,i1,1\nu1,i2,2,9\n").encode(), "log.csv:3",
         "expected 3 fields (user_id, item_id, timestamp), found 4"),
        ("log.tsv", b"user_id\titem_id\ttimestamp\nu1\ti1\t1\nu1\ti2\n", "log.tsv:3", "expected 3 fields"),
        ("log.jsonl", b'{"user_id": "u1", "item_id": "i1", "timestamp": 1}\n{"user_id": "u1", "item_id": "i2"\n'
         b'{"user_id": "u2", "item_id": "i3", "timestamp": 3}\n', "log.jsonl:2", "malformed JSON"),
        ("log.jsonl", b'{"user_id": "u1", "item_id": "i1", "timestamp": 1}\n["u1", "i2", 2]\n', "log.jsonl:2",
         "expected a JSON object"),
        # a key missing from one line, after blank lines: the line is the file's, not the row's
        ("log.jsonl", b'{"user_id": "u1", "item_id": "i1", "timestamp": 1}\n\n  \n{"user_id": "u1", "timestamp": 2}\n',
         "log.jsonl:4", "empty item id in column 'item_id'"),
        ("log.csv", (LOG_HEADER + 'u1,i1,1\n\n"u2\nstill u2",i2,2\n,i3,3\n').encode(), "log.csv:6", "empty user id"),
    ],
    ids=["csv-latin1", "jsonl-latin1", "csv-unterminated-quote", "csv-column-count", "tsv-column-count",
         "jsonl-bad-json", "jsonl-not-an-object", "jsonl-missing-key", "csv-blank-and-multiline"],
)
def test_unreadable_log_names_file_line_and_cause_without_duckdb_internals(tmp_path, name, content, where, cause):
    log = tmp_path / name
    log.write_bytes(content)
    with pytest.raises(DataError) as caught:
        load_shop_log(log, write(tmp_path / "items.csv", TINY_ITEMS))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / where}: ") and cause in message, message
    assert not [s for s in DUCKDB_INTERNALS if s in message], message


def test_non_utf8_and_column_count_errors_say_what_to_do(tmp_path):
    items = write(tmp_path / "items.csv", TINY_ITEMS)
    latin = tmp_path / "log.csv"
    latin.write_bytes((LOG_HEADER + "u1,caf\xe9,1\n").encode("latin-1"))
    with pytest.raises(DataError) as caught:
        load_shop_log(latin, items)
    assert caught.value.hint == "re-save the file as UTF-8"
    wide = write(tmp_path / "wide.csv", LOG_HEADER + "u1,i1,1,2\n")
    with pytest.raises(DataError) as caught:
        load_shop_log(wide, items)
    assert "quotes" in caught.value.hint


def test_missing_log_column_names_the_columns_found(tmp_path):
    log = write(tmp_path / "log.jsonl", '{"user_id": "u1", "timestamp": 1}\n')
    with pytest.raises(DataError, match=r"log\.jsonl: no item column found \(columns: user_id, timestamp\)"):
        load_shop_log(log, write(tmp_path / "items.csv", TINY_ITEMS))


def test_jsonl_values_are_read_as_written_whatever_type_later_rows_hold(tmp_path):
    # DuckDB guesses column types from the first rows; a later row of another type must not fail or
    # come back with JSON quotes around it.
    rows = [{"user_id": f"u{i % 7}", "item_id": i % 5 + 1, "timestamp": i} for i in range(25_000)]
    rows.append({"user_id": "u1", "item_id": "i2", "timestamp": "2024-05-01 12:00:00", "note": {"a": 1}})
    log = write(tmp_path / "log.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    items = write(tmp_path / "items.csv", "item_id,title\n1,A\n2,B\n3,C\n4,D\n5,E\ni2,F\n")
    shop = load_shop_log(log, items)
    assert shop.report.events == 25_001
    assert shop.con.execute("SELECT item_id, ts FROM events ORDER BY src_row DESC LIMIT 1").fetchone() == (
        "i2", 1714564800.0)
    assert shop.log_columns.extra == ("note",)
