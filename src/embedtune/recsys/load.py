"""Read an interaction log, an item catalog and optional user attributes into DuckDB tables.

Files may be CSV (``.csv``), tab-separated (``.tsv``, ``.txt`` and RecBole's atomic ``.inter``,
``.item``, ``.user``), Parquet or JSON Lines. Every check runs as a DuckDB query, so a 10-million-row
log loads in seconds; a bad value raises :class:`DataError` naming the file, the line (CSV/JSONL) or
row (Parquet), the column and how many rows share the problem.

What loading does to the log, with a count of each in :class:`LoadReport`:

* events on items missing from the catalog are kept out (``unknown_item_events``);
* exact duplicate events (same user, item, time and event type) are kept once;
* a missing or unparseable timestamp is an error, unless ``no_time`` says the file order is the
  time order;
* a non-numeric rating is an error naming its line.

The result is a :class:`ShopLog`: tables ``events(user_id, item_id, ts, event, rating, src_row)``,
``items(item_id, category, shop, brand, title, description, <other catalog columns>)`` and, when
given, ``users(user_id, <attributes>)``.
"""

from __future__ import annotations

import csv
import itertools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from embedtune.errors import DataError
from embedtune.fileio import iter_csv, iter_jsonl, iter_tsv
from embedtune.recsys.config import RecsysConfig
from embedtune.recsys.schema import (
    ITEM_ALIASES,
    LOG_ALIASES,
    REQUIRED_LOG_ROLES,
    USER_ALIASES,
    ResolvedColumns,
    normalise_event,
    resolve_columns,
)
from embedtune.recsys.sql import ident

log = logging.getLogger(__name__)

TSV_SUFFIXES = {".tsv", ".txt", ".inter", ".item", ".user"}
CSV_SUFFIXES = {".csv"} | TSV_SUFFIXES
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
ITEM_FIELDS = ("category", "shop", "brand", "title", "description")


@dataclass
class LoadReport:
    """What loading kept, dropped and counted (written to the manifest and printed by the CLI)."""

    log_rows: int = 0
    events: int = 0
    users: int = 0
    catalog_items: int = 0
    logged_items: int = 0
    unknown_item_events: int = 0
    unknown_items: int = 0
    duplicate_events: int = 0
    events_by_type: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class ShopLog:
    """The loaded data: a DuckDB connection holding ``events``, ``items`` and maybe ``users``."""

    con: duckdb.DuckDBPyConnection
    log_columns: ResolvedColumns
    item_columns: ResolvedColumns
    user_columns: ResolvedColumns | None
    item_fields: tuple[str, ...]
    item_attributes: tuple[str, ...]
    user_attributes: tuple[str, ...]
    report: LoadReport


def _file_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "tsv" if suffix in TSV_SUFFIXES else "csv"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise DataError(path, f"unsupported file type {suffix!r} (use .csv, .tsv, .parquet or .jsonl)")


def _csv_header(path: Path, delimiter: str) -> list[str]:
    with path.open("rb") as fh:
        first = fh.readline()
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(path, "header is not valid UTF-8", 1, hint="re-save the file as UTF-8") from None
    if not text.strip():
        raise DataError(path, "empty file (no header row)", 1)
    if delimiter == "\t":
        header = text.rstrip("\r\n").split("\t")
    else:
        header = next(csv.reader([text]))
    header = [h.strip() for h in header]
    if any(not h for h in header):
        raise DataError(path, f"header has an empty column name: {header}", 1)
    if len(set(header)) != len(header):
        raise DataError(path, f"header repeats a column name: {header}", 1)
    return header


# DuckDB's CSV errors, reworded as the other readers word them (fileio.iter_csv), keyed by the cause.
_CSV_CAUSES = (
    (
        re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)"),
        "expected {0} fields ({header}), found {1}",
        "give every row one value per header column{quoting}",
    ),
    (
        re.compile(r"unterminated quote", re.IGNORECASE),
        "unterminated quote (a quoted value must end with a quote right before the next comma or the line end)",
        'close the quote, and write a quote inside a quoted value as two ("")',
    ),
    (re.compile(r"not utf-8 encoded|Invalid unicode", re.IGNORECASE), "not valid UTF-8", "re-save the file as UTF-8"),
)


def _duckdb_reason(exc: duckdb.Error) -> str:
    """DuckDB's own words minus its internals (error class, the SQL it ran, option dumps)."""
    for line in (ln.strip() for ln in str(exc).splitlines()):
        if not line or line.startswith(("LINE ", "Original Line", "Possible", "*", "CSV Error on Line")):
            continue
        return re.sub(r"^[A-Za-z ]*Error: ", "", line)[:300]
    return type(exc).__name__


def _csv_error(path: Path, exc: duckdb.Error, what: str, header: list[str], delimiter: str) -> DataError:
    message = str(exc)
    quoting = "; a value with a tab cannot be stored in a TSV file" if delimiter == "\t" else (
        '; put a value that holds a comma in quotes ("a, b")'
    )
    match = re.search(r"on Line: (\d+)", message)
    line = int(match.group(1)) if match else None
    for pattern, reason, hint in _CSV_CAUSES:
        if found := pattern.search(message):
            reason = reason.format(*found.groups(), header=", ".join(header))
            return DataError(path, f"cannot read {what}: {reason}", line, hint=hint.format(quoting=quoting))
    return DataError(path, f"cannot read {what}: {_duckdb_reason(exc)}", line)


def _first_jsonl_problem(path: Path, what: str) -> DataError | None:
    """The first line that is not UTF-8 or not a JSON object, worded as the JSONL readers word it."""
    try:
        for _ in iter_jsonl(path):
            pass
    except DataError as err:
        return DataError(path, f"cannot read {what}: {err.reason}", err.line, hint=err.hint)
    return None


def _read_jsonl(con: duckdb.DuckDBPyConnection, path: Path, table: str, what: str) -> None:
    """Every value as text, like a CSV cell: DuckDB's type guess from the first rows fails (or keeps
    JSON quotes) when a later row holds another type."""
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE __jsonl AS SELECT json FROM read_ndjson_objects(?)", [str(path)])
    except duckdb.Error as exc:
        problem = _first_jsonl_problem(path, what)
        raise problem or DataError(path, f"cannot read {what}: {_duckdb_reason(exc)}") from None
    if con.execute("SELECT 1 FROM __jsonl WHERE json_type(json) <> 'OBJECT' LIMIT 1").fetchone():
        raise _first_jsonl_problem(path, what) or DataError(path, f"cannot read {what}: a line is not a JSON object")
    keys = [
        key
        for (key,) in con.execute(
            "SELECT k FROM (SELECT rowid AS r, unnest(json_keys(json)) AS k, "
            "generate_subscripts(json_keys(json), 1) AS i FROM __jsonl) GROUP BY k ORDER BY min(r), min(i)"
        ).fetchall()
    ]
    if not keys:
        raise DataError(
            path, f"the {what} has no columns (no JSON lines, or only empty objects)",
            hint='write one {"column": value, ...} object per line',
        )
    # JSON Pointer paths ("/key", with "~" and "/" escaped) reach any key, quotes included.
    pointers = ["/" + key.replace("~", "~0").replace("/", "~1") for key in keys]
    columns = ", ".join(f"v[{i}] AS {ident(key)}" for i, key in enumerate(keys, start=1))
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT {columns} "
        "FROM (SELECT json_extract_string(json, ?::VARCHAR[]) AS v FROM __jsonl ORDER BY rowid)",
        [pointers],
    )
    con.execute("DROP TABLE __jsonl")


def read_into_table(con: duckdb.DuckDBPyConnection, path: str | Path, table: str, what: str) -> list[str]:
    """Load a CSV/TSV/Parquet/JSONL file into ``table`` (file order kept in ``rowid``); return its columns.

    Unreadable input raises :class:`DataError` naming the file, the line and the cause (text that
    is not UTF-8, a malformed row, bad JSON) and what to do, never DuckDB's internals.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, f"{what} file not found")
    kind = _file_kind(path)
    if kind == "jsonl":
        _read_jsonl(con, path, table, what)
    elif kind == "parquet":
        try:
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet(?)", [str(path)])
        except duckdb.Error as exc:
            raise DataError(
                path, f"cannot read {what} as Parquet: {_duckdb_reason(exc)}",
                hint="write it again with pandas or pyarrow, or give a CSV or JSONL file",
            ) from None
    else:
        delimiter = "\t" if kind == "tsv" else ","
        header = _csv_header(path, delimiter)
        quoting = "quote='', escape=''" if kind == "tsv" else "quote='\"', escape='\"'"
        try:
            con.execute(
                f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv(?, header=true, auto_detect=false, "
                f"columns=?, delim=?, {quoting}, strict_mode=true)",
                [str(path), dict.fromkeys(header, "VARCHAR"), delimiter],
            )
        except duckdb.Error as exc:
            raise _csv_error(path, exc, what, header, delimiter) from None
    return [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]


def _line(path: Path, rowid: int) -> tuple[int | None, str]:
    """Where row ``rowid`` (0-based, file order) lives: its line number, or a row label for Parquet.

    The file is read again on the way to an error only: blank lines and quoted line breaks make
    the line differ from the row number.
    """
    kind = _file_kind(path)
    if kind == "parquet":
        return None, f"row {rowid + 1}: "
    rows: Iterator[tuple[int, object]]
    if kind == "jsonl":
        rows = iter_jsonl(path)
    elif kind == "tsv":
        rows = itertools.islice(iter_tsv(path), 1, None)  # past the header
    else:
        rows = iter_csv(path)
    found = next(itertools.islice(rows, rowid, None), None)
    return (found[0] if found else None), ""


def _refuse_rows(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, condition: str, message: str,
    value_sql: str = "NULL", hint: str | None = None,
) -> None:
    """Raise :class:`DataError` at the first row of ``table`` (read from ``path``) where ``condition`` holds.

    ``message`` may name the row's ``{value}`` (``value_sql``); the error counts the rows like it.
    """
    row = con.execute(
        f"SELECT count(*) OVER (), rowid, {value_sql} FROM {table} WHERE {condition} ORDER BY rowid LIMIT 1"
    ).fetchone()
    if row is None:
        return
    count, rowid, value = int(row[0]), int(row[1]), row[2]
    line, prefix = _line(path, rowid)
    more = f" ({count:,} rows like this)" if count > 1 else ""
    raise DataError(path, f"{prefix}{message.format(value=value)}{more}", line, hint=hint)


def _text_sql(column: str) -> str:
    """A column as trimmed text, NULL when blank."""
    return f"NULLIF(trim(CAST({ident(column)} AS VARCHAR)), '')"


def load_shop_log(
    log_path: str | Path,
    items_path: str | Path,
    users_path: str | Path | None = None,
    config: RecsysConfig | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> ShopLog:
    """Load and validate the three inputs; see the module docstring for what is kept and counted."""
    config = config or RecsysConfig()
    log_path, items_path = Path(log_path), Path(items_path)
    con = con or duckdb.connect()
    report = LoadReport()

    # --- catalog -------------------------------------------------------------------------------
    item_cols = read_into_table(con, items_path, "raw_items", "item catalog")
    item_map = resolve_columns(items_path, item_cols, config.item_columns, ITEM_ALIASES, required=("item",))
    item_id = _text_sql(item_map.roles["item"])
    _refuse_rows(con, items_path, "raw_items", f"{item_id} IS NULL", f"empty item id in column {item_map.roles['item']!r}")
    _refuse_rows(
        con, items_path,
        f"(SELECT rowid AS rowid, {item_id} AS id, row_number() OVER (PARTITION BY {item_id} ORDER BY rowid) AS rn "
        "FROM raw_items)",
        "rn > 1", "duplicate item id {value!r} in the catalog", value_sql="id", hint="give each item one row",
    )
    fields = tuple(f for f in ITEM_FIELDS if f in item_map.roles)
    attributes = tuple(c for c in item_map.extra)
    select = [f"{item_id} AS item_id"]
    select += [f"{_text_sql(item_map.roles[f])} AS {f}" for f in fields]
    select += [f"{ident(c)} AS {ident('attr:' + c)}" for c in attributes]
    con.execute(f"CREATE OR REPLACE TABLE items AS SELECT {', '.join(select)} FROM raw_items ORDER BY rowid")
    con.execute("DROP TABLE raw_items")
    report.catalog_items = int(con.execute("SELECT count(*) FROM items").fetchone()[0])
    if report.catalog_items == 0:
        raise DataError(items_path, "the item catalog has no rows")

    # --- log ------------------------------------------------------------------------------------
    log_cols = read_into_table(con, log_path, "raw_log", "interaction log")
    log_map = resolve_columns(log_path, log_cols, config.columns, LOG_ALIASES, required=REQUIRED_LOG_ROLES)
    report.log_rows = int(con.execute("SELECT count(*) FROM raw_log").fetchone()[0])
    if report.log_rows == 0:
        raise DataError(log_path, "the interaction log has no rows")
    for role in ("user", "item"):
        _refuse_rows(
            con, log_path, "raw_log", f"{_text_sql(log_map.roles[role])} IS NULL",
            f"empty {role} id in column {log_map.roles[role]!r}",
        )

    time_col = log_map.get("time")
    if config.no_time:
        ts_sql = "CAST(rowid AS DOUBLE)"
    elif time_col is None:
        raise DataError(
            log_path, f"no timestamp column found (columns: {', '.join(log_cols)})",
            hint="name it with --time-column, or pass --no-time if the file is already in time order",
        )
    else:
        raw = _text_sql(time_col)
        ts_sql = f"COALESCE(TRY_CAST({raw} AS DOUBLE), epoch(TRY_CAST({raw} AS TIMESTAMP)))"
        _refuse_rows(
            con, log_path, "raw_log", f"{raw} IS NULL", f"missing timestamp in column {time_col!r}",
            hint="fill it in, or pass --no-time to use the file order as the time order",
        )
        _refuse_rows(
            con, log_path, "raw_log", f"{ts_sql} IS NULL",
            f"timestamp {{value!r}} in column {time_col!r} is neither a number nor a date", value_sql=raw,
            hint="use epoch seconds or ISO dates like 2024-05-01 12:00:00",
        )

    rating_col = log_map.get("rating")
    rating_sql = "CAST(NULL AS DOUBLE)"
    if rating_col is not None:
        raw = _text_sql(rating_col)
        rating_sql = f"TRY_CAST({raw} AS DOUBLE)"
        _refuse_rows(
            con, log_path, "raw_log", f"{rating_sql} IS NULL",
            f"rating {{value!r}} in column {rating_col!r} is not a number", value_sql=raw,
            hint="ratings and weights must be numeric",
        )

    event_col = log_map.get("event")
    if event_col is not None:
        raw = _text_sql(event_col)
        values = [r[0] for r in con.execute(f"SELECT DISTINCT {raw} FROM raw_log").fetchall()]
        if len(values) > 1000:
            raise DataError(
                log_path, f"column {event_col!r} has {len(values):,} distinct event types; is it really the event type?",
                hint="name the event column with --event-column",
            )
        con.execute("CREATE OR REPLACE TEMP TABLE event_labels (__raw VARCHAR, __label VARCHAR)")
        if values:
            con.executemany(
                "INSERT INTO event_labels VALUES (?, ?)",
                [(v, normalise_event(v, event_col, config.event_map)) for v in values],
            )
        event_sql = "COALESCE(event_labels.__label, 'click')"
        event_join = f"LEFT JOIN event_labels ON event_labels.__raw IS NOT DISTINCT FROM {raw.replace('CAST(', 'CAST(raw_log.')}"
    elif rating_col is not None:
        # Ratings as intentions (MovieLens): "rated 4", "rated 4.5".
        event_sql = f"'rated ' || regexp_replace(CAST({rating_sql} AS VARCHAR), '\\.0$', '')"
        event_join = ""
    else:
        event_sql, event_join = "'click'", ""

    con.execute(
        f"""
        CREATE OR REPLACE TABLE events AS
        SELECT {_text_sql(log_map.roles['user'])} AS user_id,
               {_text_sql(log_map.roles['item'])} AS item_id,
               {ts_sql} AS ts,
               {event_sql} AS event,
               {rating_sql} AS rating,
               raw_log.rowid AS src_row
        FROM raw_log {event_join}
        """
    )
    con.execute("DROP TABLE raw_log")

    before = int(con.execute("SELECT count(*) FROM events").fetchone()[0])
    con.execute(
        """
        CREATE OR REPLACE TABLE events AS
        SELECT * FROM events
        QUALIFY row_number() OVER (PARTITION BY user_id, item_id, ts, event ORDER BY src_row) = 1
        """
    )
    report.duplicate_events = before - int(con.execute("SELECT count(*) FROM events").fetchone()[0])

    unknown = con.execute(
        "SELECT count(*), count(DISTINCT item_id) FROM events e WHERE NOT EXISTS "
        "(SELECT 1 FROM items i WHERE i.item_id = e.item_id)"
    ).fetchone()
    report.unknown_item_events, report.unknown_items = int(unknown[0]), int(unknown[1])
    if report.unknown_item_events:
        con.execute("DELETE FROM events e WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.item_id = e.item_id)")
        log.warning(
            "%s: %d events on %d items not in the catalog were kept out",
            log_path, report.unknown_item_events, report.unknown_items,
        )
    stats = con.execute("SELECT count(*), count(DISTINCT user_id), count(DISTINCT item_id) FROM events").fetchone()
    report.events, report.users, report.logged_items = (int(x) for x in stats)
    if report.events == 0:
        raise DataError(
            log_path, f"no event refers to an item of the catalog {items_path} ({report.unknown_items:,} unknown item ids)",
            hint="check that --item-column names the same ids in both files",
        )
    report.events_by_type = dict(
        con.execute("SELECT event, count(*) FROM events GROUP BY event ORDER BY count(*) DESC").fetchall()
    )

    # --- users ----------------------------------------------------------------------------------
    user_map = None
    user_attributes: tuple[str, ...] = ()
    if users_path is not None:
        users_path = Path(users_path)
        user_cols = read_into_table(con, users_path, "raw_users", "users")
        user_map = resolve_columns(users_path, user_cols, config.user_columns, USER_ALIASES, required=("user",))
        user_attributes = user_map.extra
        select = [f"{_text_sql(user_map.roles['user'])} AS user_id"]
        select += [f"{_text_sql(c)} AS {ident('attr:' + c)}" for c in user_attributes]
        con.execute(
            f"CREATE OR REPLACE TABLE users AS SELECT {', '.join(select)} FROM raw_users "
            f"WHERE {_text_sql(user_map.roles['user'])} IS NOT NULL "
            f"QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY rowid) = 1"
        )
        con.execute("DROP TABLE raw_users")

    return ShopLog(
        con=con,
        log_columns=log_map,
        item_columns=item_map,
        user_columns=user_map,
        item_fields=fields,
        item_attributes=attributes,
        user_attributes=user_attributes,
        report=report,
    )

