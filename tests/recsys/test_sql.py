"""SQL text around user-supplied names: parameters where DuckDB takes them, quoting where it cannot."""

from __future__ import annotations

import duckdb

from embedtune.data import load_retrieval_split
from embedtune.recsys.build import build_recsys
from embedtune.recsys.sql import ident, literal
from tests.recsys.conftest import TINY_ITEMS, TINY_LOG, write


def test_literal_and_ident_survive_quotes():
    con = duckdb.connect()
    text = "it's \"quoted\" -- and ; dropped?"
    assert con.execute(f"SELECT {literal(text)} AS {ident(text)}").fetchone() == (text,)
    assert con.execute(f"SELECT {ident(text)} FROM (SELECT 1 AS {ident(text)})").fetchone() == (1,)


def test_build_from_and_into_folders_whose_names_hold_quotes(tmp_path):
    raw = tmp_path / "o'brien \"shop\""
    log = write(raw / "log.csv", TINY_LOG)
    items = write(raw / "items.csv", TINY_ITEMS.replace("cat_id", "cat'id"))
    out = raw / "data'set"
    report = build_recsys(log, items, out)
    assert report.load.events == 8 and (out / "interactions.parquet").is_file()
    assert load_retrieval_split(out, "test").query_ids
