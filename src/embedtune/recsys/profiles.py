"""User profiles (queries) and item texts (documents), built with DuckDB window queries.

For a target at time t the profile reads only the user's events *strictly before t* (``pos <
hist_len``, see :func:`embedtune.recsys.split.order_events`), at most the last ``history_window`` of
them. Hist fields (categories, shops, brands) list the top ``hist_top_n`` values by recency-weighted
frequency — an event k events before the target weighs ``recency_decay**k`` — or, in ``last`` mode,
the most recent distinct values. ``HistIntentions`` counts event types in the window,
``HistItems`` lists the titles of the most recent distinct items. A field with nothing to show is
"unk".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from embedtune.recsys.config import RecsysConfig
from embedtune.recsys.schema import EVENT_ORDER
from embedtune.recsys.sql import ident, literal
from embedtune.recsys.templates import UNK, PromptTemplate, or_unk

PROFILE_FIELDS = {"category": "hist_categories", "shop": "hist_shops", "brand": "hist_brands"}
ITEM_PROMPT_FIELDS = ("category", "shop", "brand")
# Targets are profiled in chunks of about this many (target, history event) rows: the history rows
# carry item strings, and one pass over a 10-million-event log made DuckDB spill more than the disk held.
HIST_ROWS_PER_CHUNK = 4_000_000


@dataclass(frozen=True)
class ProfileOptions:
    """What a profile may show: the catalog's fields and the user attributes available."""

    item_fields: tuple[str, ...]
    user_attributes: tuple[str, ...] = ()


def _event_order_sql(column: str) -> str:
    cases = " ".join(f"WHEN '{name}' THEN {i}" for i, name in enumerate(EVENT_ORDER))
    return f"CASE {column} {cases} ELSE {len(EVENT_ORDER)} END"


def build_profiles(con: duckdb.DuckDBPyConnection, config: RecsysConfig, options: ProfileOptions) -> None:
    """Create ``profiles``: one row per ``targets`` row with its Hist fields as text (NULL = unk).

    Needs tables ``ev`` (``user_id, item_id, event, pos``), ``targets`` (``query_id, user_id,
    hist_len``) and ``items``.
    """
    window = config.history_window
    fields = [f for f in PROFILE_FIELDS if f in options.item_fields]
    with_titles = "title" in options.item_fields and config.hist_items > 0
    carried = "".join(f", i.{f}" for f in [*fields, *(["title"] if with_titles else [])])
    # Integer target ids: grouping millions of history rows is much cheaper on integers than strings.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE tq_all AS SELECT row_number() OVER () AS tid, query_id, user_id, hist_len FROM targets"
    )
    hist_rows = int(con.execute(f"SELECT coalesce(sum(least(hist_len, {window})), 0) FROM tq_all").fetchone()[0])
    chunks = max(1, math.ceil(hist_rows / HIST_ROWS_PER_CHUNK))
    for chunk in range(chunks):
        con.execute(f"CREATE OR REPLACE TEMP TABLE tq AS SELECT * FROM tq_all WHERE tid % {chunks} = {chunk}")
        _profile_chunk(con, config, fields, with_titles, carried, first=chunk == 0)
    con.execute("DROP TABLE tq_all")


def _profile_chunk(con: duckdb.DuckDBPyConnection, config: RecsysConfig, fields: list[str], with_titles: bool,
                   carried: str, first: bool) -> None:
    """Profiles of the targets in ``tq``, created as (``first``) or appended to table ``profiles``."""
    window, decay, top_n = config.history_window, config.recency_decay, config.hist_top_n
    # One pass over (target × its last `window` earlier events), joined with the catalog once.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE hist AS
        SELECT t.tid AS query_id, h.item_id, h.event, h.pos, pow({decay!r}, t.hist_len - 1 - h.pos) AS w{carried}
        FROM tq t JOIN ev h
          ON h.user_id = t.user_id AND h.pos < t.hist_len AND h.pos >= t.hist_len - {window}
        LEFT JOIN items i ON i.item_id = h.item_id
        """
    )
    # Top-N per (target, field): max_by over a (score, recency) key returns them best first; a tie
    # on both goes to the larger value, so the order is deterministic.
    key = "(score, last, value)" if config.hist_mode == "frequency" else "(last, score, value)"
    parts = []
    for fld in fields:
        value = fld
        if fld == "category" and config.category_separator:
            value = f"unnest(string_split({fld}, {literal(config.category_separator)}))"
        parts.append(
            f"""
            (SELECT query_id, array_to_string(max_by(value, {key}, {top_n}), ', ') AS {PROFILE_FIELDS[fld]}
             FROM (SELECT query_id, value, sum(w) AS score, max(pos) AS last
                   FROM (SELECT query_id, trim({value}) AS value, w, pos FROM hist WHERE {fld} IS NOT NULL)
                   WHERE value <> '' GROUP BY query_id, value)
             GROUP BY query_id) AS f_{fld}"""
        )
    joins = "".join(f" LEFT JOIN {part} USING (query_id)" for part in parts)
    columns = ", ".join(
        f"{col}" if fld in fields else f"CAST(NULL AS VARCHAR) AS {col}" for fld, col in PROFILE_FIELDS.items()
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE hist_fields AS
        SELECT t.query_id, {columns} FROM (SELECT tid AS query_id FROM tq) t{joins}
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE hist_intent AS
        SELECT query_id, string_agg(event || ': ' || n, ', ' ORDER BY {_event_order_sql('event')}, event) AS text
        FROM (SELECT query_id, event, count(*) AS n FROM hist GROUP BY ALL) GROUP BY query_id
        """
    )
    if with_titles:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE hist_titles AS
            SELECT query_id, array_to_string(max_by(title, last, {config.hist_items}), '; ') AS text FROM (
                SELECT query_id, item_id, max(pos) AS last, any_value(title) AS title
                FROM hist WHERE title IS NOT NULL GROUP BY query_id, item_id)
            GROUP BY query_id
            """
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE hist_titles (query_id VARCHAR, text VARCHAR)")
    con.execute(
        f"""
        {"CREATE OR REPLACE TABLE profiles AS" if first else "INSERT INTO profiles"}
        SELECT t.query_id, t.user_id, t.hist_len, f.hist_categories, f.hist_shops, f.hist_brands,
               it.text AS hist_intentions, ti.text AS hist_items
        FROM tq t
        LEFT JOIN hist_fields f ON f.query_id = t.tid
        LEFT JOIN hist_intent it ON it.query_id = t.tid
        LEFT JOIN hist_titles ti ON ti.query_id = t.tid
        """
    )
    con.execute("DROP TABLE hist")
    con.execute("DROP TABLE tq")


def profile_coverage(con: duckdb.DuckDBPyConnection, options: ProfileOptions) -> dict[str, float]:
    """Share of profiles in which each Hist field is "unk" (1.0 = the field never says anything)."""
    cols = ["hist_categories", "hist_shops", "hist_brands", "hist_intentions"]
    if "title" in options.item_fields:
        cols.append("hist_items")
    row = con.execute(
        "SELECT count(*), " + ", ".join(f"count(*) FILTER (WHERE {c} IS NULL)" for c in cols) + " FROM profiles"
    ).fetchone()
    total = max(int(row[0]), 1)
    return {c: round(int(n) / total, 4) for c, n in zip(cols, row[1:], strict=True)}


def item_coverage(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """Share of catalog items whose Category/Shop/Brand is missing ("unk")."""
    present = {r[0] for r in con.execute("DESCRIBE items").fetchall()}
    total = max(int(con.execute("SELECT count(*) FROM items").fetchone()[0]), 1)
    out = {}
    for fld in ITEM_PROMPT_FIELDS:
        missing = total if fld not in present else int(
            con.execute(f"SELECT count(*) FROM items WHERE {fld} IS NULL").fetchone()[0]
        )
        out[fld] = round(missing / total, 4)
    return out


def _iter_rows(cursor: duckdb.DuckDBPyConnection, batch: int = 50_000) -> Iterator[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    while True:
        rows = cursor.fetchmany(batch)
        if not rows:
            return
        for row in rows:
            yield dict(zip(names, row, strict=True))


def iter_user_prompts(
    con: duckdb.DuckDBPyConnection, config: RecsysConfig, options: ProfileOptions, where: str = "TRUE"
) -> Iterator[tuple[str, str, int]]:
    """Yield ``(query_id, prompt, hist_len)`` for each row of ``profiles`` (in target order)."""
    template = PromptTemplate(config.user_template, "user_template")
    has_titles = "title" in options.item_fields and config.hist_items > 0
    attrs = options.user_attributes
    join = "LEFT JOIN users u ON u.user_id = p.user_id" if attrs else ""
    attr_cols = "".join(f", u.{ident('attr:' + a)} AS {ident('attr:' + a)}" for a in attrs)
    cursor = con.execute(
        f"SELECT p.*{attr_cols} FROM profiles p JOIN targets t USING (query_id) {join} "
        f"WHERE {where} ORDER BY t.user_id, t.pos"
    )
    for row in _iter_rows(cursor):
        values = {
            "user_id": row["user_id"],
            "hist_categories": or_unk(row["hist_categories"]),
            "hist_shops": or_unk(row["hist_shops"]),
            "hist_brands": or_unk(row["hist_brands"]),
            "hist_intentions": or_unk(row["hist_intentions"]),
            "hist_items": or_unk(row["hist_items"]) if has_titles else None,
            "history_length": int(row["hist_len"]),
            "user_attributes": {_attribute_name(a): or_unk(row.get(f"attr:{a}")) for a in attrs},
        }
        yield row["query_id"], template.render(values), int(row["hist_len"])


def _attribute_name(column: str) -> str:
    """``release_year:token`` → ``release_year``: RecBole's type suffix is not part of the name."""
    return column.split(":", 1)[0].strip() or column


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


def iter_item_prompts(con: duckdb.DuckDBPyConnection, config: RecsysConfig) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield ``(item_id, prompt, metadata)`` for every catalog item, in catalog order."""
    template = PromptTemplate(config.item_template, "item_template")
    cursor = con.execute("SELECT * FROM items")
    for row in _iter_rows(cursor):
        description = row.get("description")
        if description and config.description_chars and len(description) > config.description_chars:
            description = description[: config.description_chars].rsplit(" ", 1)[0] + " …"
        attributes = {_attribute_name(k[5:]): _jsonable(v) for k, v in row.items() if k.startswith("attr:")}
        values = {
            "item_id": row["item_id"],
            "category": or_unk(row.get("category")),
            "shop": or_unk(row.get("shop")),
            "brand": or_unk(row.get("brand")),
            "title": (row.get("title") or UNK) if "title" in row else None,
            "description": description if "description" in row else None,
            "attributes": attributes,
        }
        metadata = {k: row[k] for k in ("category", "shop", "brand", "title", "description") if k in row}
        metadata.update(attributes)
        yield row["item_id"], template.render(values), metadata
