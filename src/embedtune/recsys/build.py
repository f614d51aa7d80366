"""LOG + CATALOG [+ USERS] → a recommendation DATA_DIR in BEIR layout.

The output is what ``embedtune train`` and ``embedtune eval`` read like any other DATA_DIR::

    corpus.jsonl          one item per line: _id = item id, title = "", text = item prompt, + catalog attributes
    queries.jsonl         one user profile per (user, target): _id = "u<user>@<n>", text = profile prompt
    qrels/{train,dev,test}.tsv   profile before t → item at t
    exclude/{dev,test}.tsv       the user's earlier items (never ranked; omitted with keep_history)
    slices/{dev,test}.tsv        query-id, slice, value: target_popularity cold/warm, history_length bucket
    interactions.parquet  the cleaned log: user_id, item_id, ts, event, rating, pos, split, query_id
    users.parquet         the user attributes (only with --users), for `embedtune recommend`
    embedtune.json        {"kind": "recsys", columns, counts, coverage, templates, config}

Example::

    from embedtune.recsys.build import build_recsys
    report = build_recsys("log.csv", "items.csv", "data/shop")
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from tqdm.auto import tqdm

from embedtune.data.beir import MANIFEST
from embedtune.fileio import atomic_dir, check_output_dir
from embedtune.recsys.config import RecsysConfig
from embedtune.recsys.load import LoadReport, ShopLog, load_shop_log
from embedtune.recsys.profiles import (
    ProfileOptions,
    build_profiles,
    item_coverage,
    iter_item_prompts,
    iter_user_prompts,
    profile_coverage,
)
from embedtune.recsys.split import SplitReport, apply_k_core, history_bucket_sql, make_targets

log = logging.getLogger(__name__)

INTERACTIONS_FILE = "interactions.parquet"
USERS_FILE = "users.parquet"
# A field "unk" in at least this share of profiles or items gets a warning: the model then sees IDs only.
UNK_WARNING_SHARE = 0.95
RESERVED_KEYS = ("_id", "title", "text")


@dataclass
class BuildReport:
    """Counts and warnings of one build (also stored in ``embedtune.json``)."""

    out_dir: Path
    load: LoadReport
    split: SplitReport
    profile_unk_share: dict[str, float]
    item_unk_share: dict[str, float]
    warnings: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        """What a user needs to read after a build: counts, what was kept out, warnings, next step."""
        ld, sp = self.load, self.split
        lines = [
            f"wrote {self.out_dir}",
            f"  log: {ld.log_rows:,} rows → {ld.events:,} events, {ld.users:,} users, "
            f"{ld.logged_items:,} of {ld.catalog_items:,} catalog items interacted with",
            "  events: " + ", ".join(f"{k} {v:,}" for k, v in ld.events_by_type.items()),
        ]
        if ld.unknown_item_events:
            lines.append(f"  kept out: {ld.unknown_item_events:,} events on {ld.unknown_items:,} item ids not in the catalog")
        if ld.duplicate_events:
            lines.append(f"  kept out: {ld.duplicate_events:,} duplicate events (same user, item, time, event)")
        if sp.k_core_removed_events:
            lines.append(f"  kept out: {sp.k_core_removed_events:,} events by the k-core filter")
        lines.append(
            f"  queries: train {sp.train_targets:,} (cap per user dropped {sp.train_targets_capped:,}), "
            f"dev {sp.dev_queries:,}, test {sp.test_queries:,}"
        )
        if sp.train_targets_tied:
            lines.append(
                f"  kept out: {sp.train_targets_tied:,} training targets at the same instant as the user's dev/test "
                "target (their profile would equal the evaluation query)"
            )
        if sp.single_item_users:
            lines.append(f"  {sp.single_item_users:,} users have a single item and cannot be evaluated")
        lines += [f"  warning: {w}" for w in self.warnings]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "load": self.load.to_dict(),
            "split": self.split.to_dict(),
            "profile_unk_share": self.profile_unk_share,
            "item_unk_share": self.item_unk_share,
            "warnings": self.warnings,
        }


def duckdb_memory_limit() -> str:
    """``$EMBEDTUNE_DUCKDB_MEMORY`` (e.g. "6GB"), else 40% of physical memory, at most 8 GB."""
    configured = os.environ.get("EMBEDTUNE_DUCKDB_MEMORY")
    if configured:
        return configured
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(1, min(8, int(total * 0.4 / 2**30)))}GB"


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _unk_warnings(profile_unk: dict[str, float], item_unk: dict[str, float]) -> list[str]:
    warnings = []
    for name, share in profile_unk.items():
        if share >= UNK_WARNING_SHARE:
            warnings.append(f"profile field {name} is 'unk' in {share:.0%} of queries")
    for name, share in item_unk.items():
        if share >= UNK_WARNING_SHARE:
            warnings.append(f"item field {name} is 'unk' in {share:.0%} of items")
    content = [k for k in ("hist_categories", "hist_shops", "hist_brands", "hist_items") if k in profile_unk]
    if content and all(profile_unk[k] >= UNK_WARNING_SHARE for k in content):
        warnings.append(
            "every descriptive field is (nearly) always 'unk': profiles and items differ only by IDs, which "
            "MiniLM cannot learn from; add category/brand/shop/title columns to the catalog"
        )
    return warnings


def _write_corpus(con: duckdb.DuckDBPyConnection, config: RecsysConfig, path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for item_id, prompt, metadata in iter_item_prompts(con, config):
            extra = {}
            for key, value in metadata.items():
                key = "item_title" if key == "title" else key
                extra[f"attr_{key}" if key in RESERVED_KEYS else key] = value
            row = {"_id": item_id, "title": "", "text": prompt, **extra}
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            n += 1
    return n


def _write_queries(
    con: duckdb.DuckDBPyConnection, config: RecsysConfig, options: ProfileOptions, path: Path, progress: bool
) -> None:
    total = int(con.execute("SELECT count(*) FROM profiles").fetchone()[0])
    prompts = iter_user_prompts(con, config, options)
    if progress:
        prompts = tqdm(prompts, total=total, desc="profiles", unit=" queries", mininterval=1.0)
    with path.open("w", encoding="utf-8") as fh:
        for qid, prompt, _ in prompts:
            fh.write(json.dumps({"_id": qid, "text": prompt}, ensure_ascii=False) + "\n")


def _copy_tsv(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> None:
    con.execute(f"COPY ({sql}) TO {_sql_str(str(path))} (FORMAT csv, DELIMITER '\t', HEADER true, QUOTE '')")


def write_recsys_files(
    shop: ShopLog, config: RecsysConfig, folder: Path, progress: bool = False
) -> tuple[SplitReport, dict, dict]:
    """Build targets, profiles and every output file of a DATA_DIR into an existing (temporary) folder."""
    con = shop.con
    removed = apply_k_core(con, config.k_core)
    split = make_targets(con, config)
    split.k_core_removed_events = removed
    options = ProfileOptions(item_fields=shop.item_fields, user_attributes=shop.user_attributes)
    build_profiles(con, config, options)

    _write_corpus(con, config, folder / "corpus.jsonl")
    _write_queries(con, config, options, folder / "queries.jsonl", progress)

    (folder / "qrels").mkdir()
    for name in ("train", "dev", "test"):
        _copy_tsv(
            con,
            "SELECT query_id AS \"query-id\", item_id AS \"corpus-id\", 1 AS score FROM targets "
            f"WHERE split = '{name}' ORDER BY user_id, pos",
            folder / "qrels" / f"{name}.tsv",
        )
    if config.exclude_history:
        (folder / "exclude").mkdir()
        for name in ("dev", "test"):
            _copy_tsv(
                con,
                f"""SELECT DISTINCT t.query_id AS "query-id", e.item_id AS "corpus-id"
                    FROM targets t JOIN ev e ON e.user_id = t.user_id AND e.pos < t.hist_len
                    WHERE t.split = '{name}' ORDER BY 1, 2""",
                folder / "exclude" / f"{name}.tsv",
            )
    (folder / "slices").mkdir()
    for name in ("dev", "test"):
        _copy_tsv(
            con,
            f"""SELECT query_id AS "query-id", slice, value FROM (
                  SELECT t.query_id, t.user_id, t.pos, 'target_popularity' AS slice,
                         CASE WHEN COALESCE(p.n, 0) <= {config.cold_threshold} THEN 'cold' ELSE 'warm' END AS value
                  FROM targets t LEFT JOIN (
                      SELECT item_id, count(*) AS n FROM ev WHERE split = 'train' GROUP BY item_id) p USING (item_id)
                  WHERE t.split = '{name}'
                  UNION ALL
                  SELECT query_id, user_id, pos, 'history_length', {history_bucket_sql('hist_len')}
                  FROM targets WHERE split = '{name}')
                ORDER BY user_id, pos, slice""",
            folder / "slices" / f"{name}.tsv",
        )
    con.execute(
        f"""COPY (
            SELECT e.user_id, e.item_id, e.ts, e.event, e.rating, e.pos, e.split, t.query_id
            FROM ev e LEFT JOIN targets t ON t.user_id = e.user_id AND t.pos = e.pos
            ORDER BY e.user_id, e.pos
        ) TO {_sql_str(str(folder / INTERACTIONS_FILE))} (FORMAT parquet)"""
    )
    if shop.user_attributes:
        con.execute(f"COPY users TO {_sql_str(str(folder / USERS_FILE))} (FORMAT parquet)")
    return split, profile_coverage(con, options), item_coverage(con)


def build_recsys(
    log_path: str | Path,
    items_path: str | Path,
    out_dir: str | Path,
    users_path: str | Path | None = None,
    config: RecsysConfig | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> BuildReport:
    """Load, split and write a recommendation DATA_DIR atomically (nothing half-written on failure)."""
    config = config or RecsysConfig()
    out_dir = check_output_dir(out_dir, overwrite=overwrite, producer="recsys")
    con = duckdb.connect()
    spill = Path(tempfile.mkdtemp(prefix=".duckdb-", dir=out_dir.parent if out_dir.parent.exists() else None))
    # DuckDB's default budget (80% of RAM) ignores everything else running; cap it and let large
    # joins spill to disk beside the output, so a 10-million-row log fits next to other jobs.
    con.execute(f"SET memory_limit = '{duckdb_memory_limit()}'")
    con.execute(f"SET temp_directory = {_sql_str(str(spill))}")
    try:
        shop = load_shop_log(log_path, items_path, users_path, config, con=con)
        with atomic_dir(out_dir) as tmp:
            split, profile_unk, item_unk = write_recsys_files(shop, config, tmp, progress)
            report = BuildReport(
                out_dir=out_dir, load=shop.report, split=split,
                profile_unk_share=profile_unk, item_unk_share=item_unk,
                warnings=_unk_warnings(profile_unk, item_unk),
            )
            manifest = {
                "kind": "recsys",
                "schema_version": 1,
                "inputs": {
                    "log": str(log_path), "items": str(items_path), "users": str(users_path) if users_path else None,
                },
                "columns": {
                    "log": shop.log_columns.roles,
                    "items": shop.item_columns.roles,
                    "users": shop.user_columns.roles if shop.user_columns else None,
                    "item_attributes": list(shop.item_attributes),
                    "user_attributes": list(shop.user_attributes),
                },
                "item_fields": list(shop.item_fields),
                "counts": report.to_dict(),
                "template": {"user": config.user_template, "item": config.item_template},
                "config": config.model_dump(exclude={"user_template", "item_template"}),
                "interactions": INTERACTIONS_FILE,
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n")
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    for warning in report.warnings:
        log.warning("%s", warning)
    return report
