"""PostgreSQL + pgvector as the vector store: push, upsert, delete and search by SQL.

One table per store (``--table``, default ``embedtune_documents``)::

    T(id text PRIMARY KEY, embedding vector(DIM), title text, text text, url text, metadata jsonb,
      tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', coalesce(title, '') || ' ' || coalesce(text, ''))) STORED)
    T_embedding_hnsw: HNSW index on embedding, vector_cosine_ops (m, ef_construction recorded)
    T_tsv_gin: GIN index on tsv (full-text search: the lexical side of ``lexical`` and ``hybrid`` search)

and one shared bookkeeping table, ``embedtune_stores``, with a row per store table: the model and
backend that filled it (``serve --store`` loads that model), dim, row count, the HNSW parameters and
the ``ef_search`` chosen at push time with its measured recall@10 against exact search.

**Push** (:meth:`PgVectorStore.push`) builds the new table under a temporary name inside one
transaction -- ``CREATE TABLE``, binary ``COPY`` (psycopg 3 + the ``pgvector`` package), ``CREATE INDEX
... USING hnsw`` -- then drops the old table and renames the new one in, and commits. Until the commit,
readers see the old table whole; after it, the new one whole (PostgreSQL looks a name up again after
waiting for the lock the swap holds). A failed push rolls back and leaves the old table as it was.
**Upsert/delete** change rows in place by id (``INSERT ... ON CONFLICT``), no rebuild.

**Search** is ``ORDER BY embedding <=> q LIMIT k`` with ``hnsw.ef_search`` set per transaction; the
score is cosine similarity (``1 - distance``), the same number the embedded index reports. Metadata
filters (``metadata @> ...``) scan exactly: pgvector 0.6 filters HNSW results after the graph walk and
could return fewer than k rows.

**Lexical search** (:meth:`PgVectorStore.search_lexical`) is PostgreSQL full-text search: documents
whose ``tsv`` matches ``websearch_to_tsquery('english', q)``, ranked by ``ts_rank_cd(tsv, q, 1)``
(cover density, divided by 1 + log of the document's length), ties by id. A plain question matches
documents that hold *any* of its words, as BM25 does (its words are joined with ``or``); text written
in web-search syntax (``"a phrase"``, ``-word``, ``or``) is taken as written. These scores are not
BM25's: ``serve --store`` fuses them with the dense side like the index folder's BM25, but a hybrid
ranking served from a store is not the one ``embedtune eval`` scored. Only matching documents are
returned (the index folder's BM25 fills up with score-0 documents by id). The column is generated, so
upserts keep it current. A table pushed before it existed (``schema_version`` 1) serves dense only.

The connection URL's password never reaches a message or a log line: errors show :func:`redact_url`
and any text from the server or libpq is scrubbed of it.

Example::

    from embedtune.index import VectorIndex
    from embedtune.store.postgres import PgVectorStore, rows_from_index
    index = VectorIndex.load("runs/index")
    store = PgVectorStore("postgresql://app:secret@db/search", table="docs")
    store.push(rows_from_index(index), model=index.manifest.model, backend=index.manifest.backend, dim=index.dim)
    hits = store.search(query_vectors, k=10)
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import numpy as np

from embedtune.data.records import Document
from embedtune.errors import EmbedtuneError

log = logging.getLogger(__name__)

PG_INSTALL_HINT = "pip install 'embedtune[pg]'  (psycopg[binary] + pgvector)"
DEFAULT_TABLE = "embedtune_documents"
META_TABLE = "embedtune_stores"
SCHEMA_VERSION = 2  # 2: the tsv column and its GIN index (lexical and hybrid search)
TS_CONFIG = "english"  # the text-search configuration of the tsv column and of queries
LEXICAL_DESCRIPTION = (f"PostgreSQL full-text search (ts_rank_cd over websearch_to_tsquery('{TS_CONFIG}', q), "
                       "any of a plain query's words)")
_WEBSEARCH_SYNTAX = re.compile(r'"|(?:^|\s)-\S|(?:^|\s)or(?:\s|$)', re.IGNORECASE)
HNSW_M = 16  # pgvector's defaults: 16 / 64 / 40
HNSW_EF_CONSTRUCTION = 64
EF_SEARCH_START = 40
EF_SEARCH_MAX = 1000  # pgvector's upper limit for hnsw.ef_search
TARGET_RECALL = 0.98
RECALL_SAMPLE = 100
MAINTENANCE_WORK_MEM = "1GB"  # the HNSW build is much faster when the graph fits in it
CONNECT_TIMEOUT_S = 10
COPY_CHUNK_ROWS = 5_000
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")


class StoreError(EmbedtuneError):
    """A problem with the database: unreachable, missing pgvector, not an embedtune table. Never holds a password."""


# ---- URLs and secrets -------------------------------------------------------------------------------
def _secrets_of(url: str) -> list[str]:
    found: list[str] = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found += [parts.password, unquote(parts.password), quote(unquote(parts.password), safe="")]
        found += [v for k, v in parse_qsl(parts.query) if k == "password" and v]
    except ValueError:
        pass
    found += re.findall(r"password\s*=\s*'?([^\s']+)", url)
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact_url(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            user = parts.username or ""
            netloc = f"{user}:***@{netloc.rsplit('@', 1)[1]}"
        query = urlencode([(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)],
                          safe="/*")
        redacted = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        redacted = url
    return scrub(redacted, url)


def scrub(text: str, url: str) -> str:
    """``text`` with every form of ``url``'s password replaced by ``***``."""
    for secret in _secrets_of(url):
        text = text.replace(secret, "***")
    return text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _import_pg() -> tuple[Any, Any]:
    try:
        import psycopg
        from pgvector.psycopg import register_vector
    except ImportError:
        raise StoreError(f"the PostgreSQL store needs psycopg and pgvector, which are not installed: {PG_INSTALL_HINT}") from None
    return psycopg, register_vector


def check_table_name(table: str) -> str:
    if not _TABLE_NAME.match(table):
        raise StoreError(f"--table {table!r}: use lower-case letters, digits and _ (at most 48, not starting with a digit)")
    return table


# ---- records -------------------------------------------------------------------------------------------
@dataclass
class StoreInfo:
    """The ``embedtune_stores`` row of one table."""

    table: str
    model: str
    backend: str
    dim: int
    rows: int
    kind: str
    data_dir: str | None
    source: str | None
    hnsw_m: int
    hnsw_ef_construction: int
    ef_search: int
    recall_at_10: float | None
    recall_sample: int
    schema_version: int
    created_at: str
    updated_at: str


@dataclass
class PushResult:
    info: StoreInfo
    rows: int
    load_seconds: float  # CREATE TABLE + COPY (computing tsv) + primary key
    index_seconds: float  # CREATE INDEX ... USING hnsw, and the GIN index on tsv
    swap_seconds: float  # drop, rename, commit
    tune_seconds: float  # recall measurement and ef_search choice

    @property
    def rows_per_second(self) -> float:
        total = self.load_seconds + self.index_seconds + self.swap_seconds
        return self.rows / total if total > 0 else 0.0


def rows_from_index(index: Any, chunk: int = COPY_CHUNK_ROWS) -> Iterator[tuple[list[Document], np.ndarray]]:
    """The live rows of an embedded :class:`~embedtune.index.VectorIndex`, chunk by chunk, as (documents, float32 vectors)."""
    live = np.flatnonzero(~index.deleted)
    for lo in range(0, len(live), chunk):
        rows = live[lo : lo + chunk]
        docs = [Document(id=index.ids[r], title=index.titles[r], text=index.texts.get(int(r)), metadata=index.metadata[r])
                for r in rows]
        yield docs, index._dense(rows)


def _split_url(doc: Document) -> tuple[str | None, dict[str, Any]]:
    """The url goes in its own column (for the later lexical side and for people reading the table)."""
    meta = dict(doc.metadata)
    url = meta.pop("url", None)
    if url is not None and not isinstance(url, str):
        meta["url"], url = url, None
    return url, meta


# ---- the store -----------------------------------------------------------------------------------------
class PgVectorStore:
    """A store table in PostgreSQL; see the module docstring. Thread-safe (one connection, one lock)."""

    def __init__(self, url: str, table: str = DEFAULT_TABLE):
        if not url.startswith(("postgresql://", "postgres://")):
            raise StoreError(f"{redact_url(url)!r} is not a PostgreSQL URL (postgresql://user:password@host:port/database)")
        self.url = url
        self.table = check_table_name(table)
        self.where = f"{redact_url(url)} table {table}"
        self._conn: Any = None
        self._lock = threading.RLock()

    # -- connection
    def _connect(self) -> Any:
        psycopg, register_vector = _import_pg()
        try:
            conn = psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {redact_url(self.url)}: {scrub(_first_line(exc), self.url)}") from None
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.commit()
            register_vector(conn)
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"PostgreSQL at {redact_url(self.url)} has no usable pgvector extension "
                             f"(CREATE EXTENSION vector failed: {scrub(_first_line(exc), self.url)})") from None
        return conn

    @property
    def conn(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _fail(self, what: str, exc: BaseException) -> StoreError:
        with self._lock:
            if self._conn is not None and not self._conn.closed:
                self._conn.rollback()
        return StoreError(f"{what} failed at {self.where}: {scrub(_first_line(exc), self.url)}")

    def _sql(self) -> Any:
        from psycopg import sql

        return sql

    def _ensure_meta(self, cur: Any) -> None:
        sql = self._sql()
        cur.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (table_name text PRIMARY KEY, model text NOT NULL, backend text NOT NULL, "
            "dim integer NOT NULL, rows bigint NOT NULL, kind text NOT NULL DEFAULT 'retrieval', data_dir text, source text, "
            "hnsw_m integer NOT NULL, hnsw_ef_construction integer NOT NULL, ef_search integer NOT NULL, "
            "recall_at_10 double precision, recall_sample integer NOT NULL DEFAULT 0, schema_version integer NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())"
        ).format(sql.Identifier(META_TABLE)))

    # -- what is stored
    def info(self) -> StoreInfo:
        """The bookkeeping row of this table; an error that says how to make one when there is none."""
        psycopg, _ = _import_pg()
        sql = self._sql()
        with self._lock:
            try:
                with self.conn.transaction():
                    row = self.conn.execute(sql.SQL(
                        "SELECT table_name, model, backend, dim, rows, kind, data_dir, source, hnsw_m, hnsw_ef_construction, "
                        "ef_search, recall_at_10, recall_sample, schema_version, created_at::text, updated_at::text "
                        "FROM {} WHERE table_name = %s").format(sql.Identifier(META_TABLE)), (self.table,)).fetchone()
            except psycopg.errors.UndefinedTable:
                row = None
            except psycopg.Error as exc:
                raise self._fail("reading the store's metadata", exc) from None
        if row is None:
            raise StoreError(f"{self.where} is not an embedtune store; fill it with `embedtune index push INDEX --to URL --table {self.table}`")
        return StoreInfo(*row)

    def __len__(self) -> int:
        return self.info().rows

    # -- push: build under a temporary name, swap in one transaction
    def push(self, batches: Iterable[tuple[list[Document], np.ndarray]], model: str, backend: str, dim: int,
             kind: str = "retrieval", data_dir: str | None = None, source: str | None = None, m: int = HNSW_M,
             ef_construction: int = HNSW_EF_CONSTRUCTION, recall_sample: int = RECALL_SAMPLE,
             target_recall: float = TARGET_RECALL, total: int | None = None, show_progress: bool = False,
             before_swap: Any = None) -> PushResult:
        """Replace the table with ``batches`` of (documents, unit vectors); readers never see a partial table.

        ``before_swap`` (tests) is called after the build, before the swap, inside the transaction."""
        psycopg, _ = _import_pg()
        from psycopg.types.json import Jsonb
        from tqdm.auto import tqdm

        sql = self._sql()
        tmp = f"{self.table}__new_{secrets.token_hex(4)}"
        ident, tmp_ident = sql.Identifier(self.table), sql.Identifier(tmp)
        n = 0
        with self._lock:
            conn = self.conn
            try:
                t0 = time.perf_counter()
                with conn.transaction(), conn.cursor() as cur:
                    self._ensure_meta(cur)
                    cur.execute(sql.SQL(
                        "CREATE TABLE {} (id text NOT NULL, embedding vector({}) NOT NULL, title text, text text, "
                        "url text, metadata jsonb NOT NULL DEFAULT '{{}}'::jsonb, tsv tsvector GENERATED ALWAYS AS "
                        "(to_tsvector({}, coalesce(title, '') || ' ' || coalesce(text, ''))) STORED)"
                    ).format(tmp_ident, sql.Literal(int(dim)), sql.Literal(TS_CONFIG)))
                    seen: set[str] | None = set() if total is None or total <= 10_000_000 else None
                    with tqdm(total=total, unit="row", desc=f"push {self.table}", disable=not show_progress) as bar, \
                            cur.copy(sql.SQL("COPY {} (id, embedding, title, text, url, metadata) FROM STDIN WITH (FORMAT BINARY)")
                                     .format(tmp_ident)) as copy:
                        copy.set_types(["text", "vector", "text", "text", "text", "jsonb"])
                        for docs, vectors in batches:
                            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
                            if vectors.shape[1] != dim:
                                raise StoreError(f"vectors have {vectors.shape[1]} dimensions, the table is declared {dim}")
                            for doc, vec in zip(docs, vectors, strict=True):
                                if seen is not None:
                                    if doc.id in seen:
                                        raise StoreError(f"duplicate document id {doc.id!r} in the rows to push")
                                    seen.add(doc.id)
                                url, meta = _split_url(doc)
                                copy.write_row((doc.id, vec, doc.title, doc.text, url, Jsonb(meta)))
                            n += len(docs)
                            bar.update(len(docs))
                    if n == 0:
                        raise StoreError("nothing to push: the index has no live rows")
                    # Keys and graph are built after the load: one sort beats maintaining a btree row by row.
                    cur.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY (id)").format(tmp_ident, sql.Identifier(f"{tmp}_pkey")))
                    t1 = time.perf_counter()
                    cur.execute(sql.SQL("SET LOCAL maintenance_work_mem = {}").format(sql.Literal(MAINTENANCE_WORK_MEM)))
                    cur.execute(sql.SQL("CREATE INDEX {} ON {} USING hnsw (embedding vector_cosine_ops) WITH (m = {}, ef_construction = {})")
                                .format(sql.Identifier(f"{tmp}_hnsw"), tmp_ident, sql.Literal(int(m)), sql.Literal(int(ef_construction))))
                    cur.execute(sql.SQL("CREATE INDEX {} ON {} USING gin (tsv)").format(sql.Identifier(f"{tmp}_tsv"), tmp_ident))
                    cur.execute(sql.SQL("ANALYZE {}").format(tmp_ident))
                    t2 = time.perf_counter()
                    if before_swap is not None:
                        before_swap()
                    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
                    cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(tmp_ident, ident))
                    cur.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(f"{tmp}_pkey"), sql.Identifier(f"{self.table}_pkey")))
                    cur.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(f"{tmp}_hnsw"), sql.Identifier(f"{self.table}_embedding_hnsw")))
                    cur.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(f"{tmp}_tsv"), sql.Identifier(f"{self.table}_tsv_gin")))
                    cur.execute(sql.SQL(
                        "INSERT INTO {} (table_name, model, backend, dim, rows, kind, data_dir, source, hnsw_m, hnsw_ef_construction, "
                        "ef_search, recall_at_10, recall_sample, schema_version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, 0, %s) "
                        "ON CONFLICT (table_name) DO UPDATE SET model = EXCLUDED.model, backend = EXCLUDED.backend, dim = EXCLUDED.dim, "
                        "rows = EXCLUDED.rows, kind = EXCLUDED.kind, data_dir = EXCLUDED.data_dir, source = EXCLUDED.source, "
                        "hnsw_m = EXCLUDED.hnsw_m, hnsw_ef_construction = EXCLUDED.hnsw_ef_construction, ef_search = EXCLUDED.ef_search, "
                        "recall_at_10 = NULL, recall_sample = 0, schema_version = EXCLUDED.schema_version, created_at = now(), updated_at = now()"
                    ).format(sql.Identifier(META_TABLE)),
                        (self.table, model, backend, int(dim), n, kind, data_dir, source, int(m), int(ef_construction),
                         EF_SEARCH_START, SCHEMA_VERSION))
                t3 = time.perf_counter()
            except psycopg.Error as exc:
                raise self._fail("push", exc) from None
            except BaseException:
                if not conn.closed:
                    conn.rollback()
                raise
        t4 = time.perf_counter()
        if recall_sample > 0:
            self.tune_ef_search(sample=recall_sample, target=target_recall)
        return PushResult(info=self.info(), rows=n, load_seconds=t1 - t0, index_seconds=t2 - t1, swap_seconds=t3 - t2,
                          tune_seconds=time.perf_counter() - t4)

    # -- recall and ef_search
    def sample_queries(self, n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
        """``n`` stored rows (ids, vectors), a deterministic sample: stand-ins for queries."""
        sql = self._sql()
        with self._lock, self.conn.transaction():
            self.conn.execute("SELECT setseed(%s)", (((seed % 1000) / 1000.0),))
            rows = self.conn.execute(sql.SQL("SELECT id, embedding FROM {} ORDER BY random() LIMIT %s")
                                     .format(sql.Identifier(self.table)), (int(n),)).fetchall()
        vectors = [r[1].to_numpy() if hasattr(r[1], "to_numpy") else r[1] for r in rows]
        return [r[0] for r in rows], np.asarray(vectors, dtype=np.float32).reshape(len(rows), -1)

    def recall_at_k(self, queries: np.ndarray, ef_search: int, k: int = 10, exclude: list[str] | None = None,
                    exact: list[list[str]] | None = None) -> tuple[float, list[list[str]]]:
        """recall@k of HNSW at ``ef_search`` against exact search; ``exclude[i]`` (the query's own row) is left out of both."""
        extra = 1 if exclude is not None else 0
        if exact is None:
            exact = [[h.id for h in hits] for hits in self.search(queries, k + extra, exact=True)]
        approx = [[h.id for h in hits] for hits in self.search(queries, k + extra, ef_search=ef_search)]
        scores = []
        for i, (e, a) in enumerate(zip(exact, approx, strict=True)):
            if exclude is not None:
                e, a = [x for x in e if x != exclude[i]][:k], [x for x in a if x != exclude[i]][:k]
            scores.append(len(set(e) & set(a)) / max(1, min(k, len(e))))
        return float(np.mean(scores)) if scores else 1.0, exact

    def tune_ef_search(self, sample: int = RECALL_SAMPLE, target: float = TARGET_RECALL, k: int = 10) -> tuple[int, float]:
        """Double ``hnsw.ef_search`` from 40 until recall@k vs exact reaches ``target`` on ``sample`` stored rows
        (each leaving itself out); record the choice and its recall in ``embedtune_stores``."""
        ids, queries = self.sample_queries(sample)
        ef, exact = EF_SEARCH_START, None
        while True:
            recall, exact = self.recall_at_k(queries, ef, k=k, exclude=ids, exact=exact)
            if recall >= target or ef >= EF_SEARCH_MAX:
                break
            ef = min(ef * 2, EF_SEARCH_MAX)
        self._update_meta(ef_search=ef, recall_at_10=round(recall, 4), recall_sample=len(ids))
        log.info("%s: ef_search %d gives recall@%d %.4f vs exact on %d stored rows", self.where, ef, k, recall, len(ids))
        return ef, recall

    def _update_meta(self, **values: Any) -> None:
        sql = self._sql()
        sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in values)
        with self._lock, self.conn.transaction():
            self.conn.execute(sql.SQL("UPDATE {} SET {} WHERE table_name = %s").format(sql.Identifier(META_TABLE), sets),
                              (*values.values(), self.table))

    # -- upsert and delete by id
    def upsert(self, docs: list[Document], vectors: np.ndarray) -> tuple[int, int]:
        """Insert new documents and update those whose id exists; returns ``(added, updated)``."""
        psycopg, _ = _import_pg()
        from psycopg.types.json import Jsonb

        from embedtune.index.store import check_batch

        info = self.info()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        check_batch(docs, vectors, info.dim, self.where, StoreError)
        sql = self._sql()
        ident = sql.Identifier(self.table)
        with self._lock:
            try:
                with self.conn.transaction(), self.conn.cursor() as cur:
                    cur.execute(sql.SQL("CREATE TEMP TABLE embedtune_stage (LIKE {}) ON COMMIT DROP").format(ident))
                    with cur.copy("COPY embedtune_stage (id, embedding, title, text, url, metadata) FROM STDIN WITH (FORMAT BINARY)") as copy:
                        copy.set_types(["text", "vector", "text", "text", "text", "jsonb"])
                        for doc, vec in zip(docs, vectors, strict=True):
                            url, meta = _split_url(doc)
                            copy.write_row((doc.id, vec, doc.title, doc.text, url, Jsonb(meta)))
                    cur.execute(sql.SQL(
                        "INSERT INTO {} AS t (id, embedding, title, text, url, metadata) "
                        "SELECT id, embedding, title, text, url, metadata FROM embedtune_stage "
                        "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, title = EXCLUDED.title, "
                        "text = EXCLUDED.text, url = EXCLUDED.url, metadata = EXCLUDED.metadata "
                        "RETURNING (xmax = 0)").format(ident))
                    inserted = [bool(r[0]) for r in cur.fetchall()]
                    added = sum(inserted)
                    cur.execute(sql.SQL("UPDATE {} SET rows = rows + %s, updated_at = now() WHERE table_name = %s")
                                .format(sql.Identifier(META_TABLE)), (added, self.table))
            except psycopg.Error as exc:
                raise self._fail("upsert", exc) from None
        return added, len(inserted) - added

    def delete(self, ids: list[str]) -> int:
        """Delete rows by id; unknown ids are ignored. Returns how many were deleted."""
        psycopg, _ = _import_pg()
        self.info()
        sql = self._sql()
        with self._lock:
            try:
                with self.conn.transaction(), self.conn.cursor() as cur:
                    cur.execute(sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(sql.Identifier(self.table)), (list(ids),))
                    n = cur.rowcount
                    cur.execute(sql.SQL("UPDATE {} SET rows = rows - %s, updated_at = now() WHERE table_name = %s")
                                .format(sql.Identifier(META_TABLE)), (n, self.table))
            except psycopg.Error as exc:
                raise self._fail("delete", exc) from None
        return n

    # -- search
    def _filter_sql(self, filters: Mapping[str, Any] | None, *also: Any) -> tuple[Any, dict[str, Any]]:
        """A WHERE clause for metadata equality filters (any-of for a list) and the conditions ``also``,
        with named parameters."""
        from psycopg.types.json import Jsonb

        sql = self._sql()
        clauses, params = list(also), {}

        def param(value: Any) -> Any:
            name = f"f{len(params)}"
            params[name] = value
            return sql.Placeholder(name)

        for fld, wanted in (filters or {}).items():
            values = wanted if isinstance(wanted, list) else [wanted]
            if fld in ("id", "title", "url"):
                clauses.append(sql.SQL("{} = ANY({})").format(sql.Identifier(fld), param([str(v) for v in values])))
                continue
            # A document whose field is a list matches when any element matches, as in the embedded index.
            anyof = [sql.SQL("metadata @> {} OR metadata @> {}").format(param(Jsonb({fld: v})), param(Jsonb({fld: [v]})))
                     for v in values]
            clauses.append(sql.SQL("({})").format(sql.SQL(" OR ").join(anyof)))
        if not clauses:
            return sql.SQL(""), {}
        return sql.SQL("WHERE ") + sql.SQL(" AND ").join(clauses), params

    def search(self, queries: np.ndarray, k: int = 10, filters: Mapping[str, Any] | None = None,
               exact: bool = False, ef_search: int | None = None) -> list[list[Any]]:
        """Top-``k`` rows for each query vector, best first, as :class:`~embedtune.index.SearchHit` (score = cosine).

        HNSW at ``ef_search`` (default: the one chosen at push); ``exact`` or ``filters``: a sequential scan."""
        psycopg, _ = _import_pg()
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        sql = self._sql()
        where, params = self._filter_sql(filters)
        query = sql.SQL("SELECT id, title, text, url, metadata, embedding <=> %(q)s AS distance FROM {} {} "
                        "ORDER BY embedding <=> %(q)s LIMIT %(k)s").format(sql.Identifier(self.table), where)
        scan = exact or bool(filters)
        if ef_search is None and not scan:
            ef_search = self._ef_search()
        out: list[list[Any]] = []
        with self._lock:
            try:
                with self.conn.transaction(), self.conn.cursor() as cur:
                    if scan:
                        cur.execute("SET LOCAL enable_indexscan = off")
                    else:
                        ef = min(EF_SEARCH_MAX, max(ef_search or EF_SEARCH_START, k))
                        cur.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(int(ef))))
                    for q in queries:
                        cur.execute(query, {"q": q, "k": int(k), **params})
                        out.append([_hit(*row[:5], score=1.0 - row[5]) for row in cur.fetchall()])
            except psycopg.Error as exc:
                raise self._fail("search", exc) from None
        return out

    def has_lexical(self) -> bool:
        """Whether the table has the ``tsv`` column (pushed with ``schema_version`` 2 or later)."""
        psycopg, _ = _import_pg()
        with self._lock:
            try:
                with self.conn.transaction():
                    row = self.conn.execute(
                        "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'tsv' "
                        "AND NOT attisdropped", (self.table,)).fetchone()
            except psycopg.Error as exc:
                raise self._fail("reading the table's columns", exc) from None
        return row is not None

    def search_lexical(self, texts: list[str], k: int = 10,
                       filters: Mapping[str, Any] | None = None) -> list[list[Any]]:
        """Top-``k`` rows for each query text by PostgreSQL full-text search (module docstring), best first,
        ties by id; only documents that match. A query of stop words only matches nothing."""
        psycopg, _ = _import_pg()
        sql = self._sql()
        where, params = self._filter_sql(filters, sql.SQL("tsv @@ q"))
        query = sql.SQL(
            "SELECT id, title, text, url, metadata, ts_rank_cd(tsv, q, 1) AS score "
            "FROM {}, websearch_to_tsquery({}, %(text)s) AS q {} "
            "ORDER BY score DESC, id COLLATE \"C\" LIMIT %(k)s").format(sql.Identifier(self.table), sql.Literal(TS_CONFIG), where)
        out: list[list[Any]] = []
        with self._lock:
            try:
                with self.conn.transaction(), self.conn.cursor() as cur:
                    for text in texts:
                        cur.execute(query, {"text": any_word_query(text), "k": int(k), **params})
                        out.append([_hit(*row) for row in cur.fetchall()])
            except psycopg.Error as exc:
                raise self._fail("lexical search", exc) from None
        return out

    def _ef_search(self) -> int:
        cached = getattr(self, "_cached_ef", None)
        if cached is None or time.monotonic() - cached[1] > 5.0:
            cached = (self.info().ef_search, time.monotonic())
            self._cached_ef = cached
        return cached[0]


def any_word_query(text: str) -> str:
    """What ``websearch_to_tsquery`` gets for a query: a plain question's words joined with ``or`` (a document
    matches with any of them, as in BM25); text in web-search syntax (a quote, ``-word``, ``or``) as written."""
    return text if _WEBSEARCH_SYNTAX.search(text) else " or ".join(text.split())


def _hit(doc_id: str, title: str | None, text: str | None, url: str | None, meta: Any, score: float) -> Any:
    from embedtune.index import SearchHit

    metadata = dict(meta or {})
    if url is not None:
        metadata["url"] = url
    return SearchHit(id=doc_id, score=float(score), title=title or "", text=text or "", metadata=metadata)


# ---- the serve adapter ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreLexical:
    """A store's lexical side, as ``serve`` describes it: not the BM25 that evaluation scores."""

    description: str = LEXICAL_DESCRIPTION
    same_as_evaluated: bool = False  # index.hybrid.choose_mode says so in /health's search.why


class StoreIndex:
    """What ``embedtune serve --store`` searches: a :class:`PgVectorStore` with the read side of
    :class:`~embedtune.index.VectorIndex` (``manifest``, ``dim``, ``len``, ``search``, ``lexical`` and
    ``search_lexical``; ``lexical`` is None for a table without the ``tsv`` column)."""

    def __init__(self, store: PgVectorStore):
        self.store = store
        self.path: Path | None = None
        self.lexical = StoreLexical() if store.has_lexical() else None

    @property
    def manifest(self) -> Any:
        from embedtune.index import AnnInfo, IndexManifest

        info = self.store.info()
        return IndexManifest(
            model=info.model, backend=info.backend, dim=info.dim, rows=info.rows, live=info.rows, kind=info.kind,
            source=self.store.where, data_dir=info.data_dir, created_at=info.created_at, updated_at=info.updated_at,
            ann=AnnInfo(library="pgvector", m=info.hnsw_m, ef_construction=info.hnsw_ef_construction, ef_search=info.ef_search,
                        recall_at_10=info.recall_at_10, recall_sample=info.recall_sample),
        )

    @property
    def dim(self) -> int:
        return self.store.info().dim

    def __len__(self) -> int:
        return len(self.store)

    def search(self, queries: np.ndarray, k: int = 10, filters: Mapping[str, Any] | None = None,
               exact: bool = False) -> list[list[Any]]:
        return self.store.search(queries, k=k, filters=filters, exact=exact)

    def search_lexical(self, queries: list[str], k: int = 10,
                       filters: Mapping[str, Any] | None = None) -> list[list[Any]]:
        if self.lexical is None:
            raise StoreError(f"{self.store.where} has no full-text column (pushed by an older embedtune): "
                             "push the index again to search it lexically")
        return self.store.search_lexical(queries, k=k, filters=filters)


def open_store_index(url: str, table: str = DEFAULT_TABLE) -> StoreIndex:
    """Connect and check the table is an embedtune store (so ``serve`` fails at start, not on the first query)."""
    store = PgVectorStore(url, table)
    store.info()
    return StoreIndex(store)


def rows_from_path(path: str | Path) -> tuple[Iterator[tuple[list[Document], np.ndarray]], dict[str, Any]]:
    """Rows and provenance of an index folder or an embeddings folder (from ``embedtune embed``)."""
    from embedtune import embed
    from embedtune.index import MANIFEST_FILE, VectorIndex

    path = Path(path)
    if (path / embed.MANIFEST_FILE).is_file() and not (path / MANIFEST_FILE).is_file():
        manifest = embed.finished_manifest(path)
        return embed.iter_embeddings(path), {
            "model": manifest.model, "backend": manifest.backend, "dim": manifest.dim, "kind": manifest.kind,
            "data_dir": manifest.data_dir, "source": str(path.resolve()), "total": manifest.rows}
    index = VectorIndex.load(path)
    m = index.manifest
    return rows_from_index(index), {"model": m.model, "backend": m.backend, "dim": m.dim, "kind": m.kind,
                                    "data_dir": m.data_dir, "source": str(path.resolve()), "total": len(index)}


def push_path(path: str | Path, url: str, table: str = DEFAULT_TABLE, recall_sample: int = RECALL_SAMPLE,
              show_progress: bool = False) -> PushResult:
    """``embedtune index push``: an index folder or an embeddings folder into ``table``, swapped in atomically."""
    batches, meta = rows_from_path(path)
    store = PgVectorStore(url, table)
    try:
        return store.push(batches, model=meta["model"], backend=meta["backend"], dim=meta["dim"], kind=meta["kind"],
                          data_dir=meta["data_dir"], source=meta["source"], total=meta["total"],
                          recall_sample=recall_sample, show_progress=show_progress)
    finally:
        store.close()


def add_to_store(url: str, table: str, corpus: str | Path, batch_size: int = 32, show_progress: bool = False,
                 encoder: Any = None) -> tuple[int, int]:
    """``embedtune index add --to``: encode ``corpus`` with the table's model and upsert it."""
    from embedtune.encoders import load_encoder
    from embedtune.index import read_index_corpus

    store = PgVectorStore(url, table)
    try:
        info = store.info()
        source = read_index_corpus(corpus)
        encoder = encoder or load_encoder(info.model, info.backend)
        vectors = encoder.encode([d.full_text for d in source.docs], batch_size=batch_size, show_progress=show_progress)
        return store.upsert(source.docs, vectors)
    finally:
        store.close()


def delete_from_store(url: str, table: str, ids: list[str]) -> int:
    """``embedtune index delete --to``: delete rows by id."""
    store = PgVectorStore(url, table)
    try:
        return store.delete(ids)
    finally:
        store.close()


def describe(info: StoreInfo) -> dict[str, Any]:
    return json.loads(json.dumps(info.__dict__, default=str))
