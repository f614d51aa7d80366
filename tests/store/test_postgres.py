"""PostgreSQL + pgvector store against a real server: push, search = embedded index, upsert, delete,
atomic swap under a concurrent reader, clear errors that never show the password."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import numpy as np
import pytest

from embedtune.data.records import Document
from embedtune.index import VectorIndex
from embedtune.store.postgres import (
    META_TABLE,
    PgVectorStore,
    StoreError,
    push_path,
    redact_url,
    rows_from_index,
)

pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'embedtune[pg]')")
pytest.importorskip("pgvector", reason="pgvector is not installed (pip install 'embedtune[pg]')")

MODEL = "all-MiniLM-L6-v2"
SECRET = "hunter2-Secret"


def make_index(n: int = 600, dim: int = 384, seed: int = 0, version: str = "v1") -> VectorIndex:
    """Clustered unit vectors (like real embeddings, unlike uniform noise) with titles, urls and metadata."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((20, dim)).astype(np.float32)
    vectors = centers[np.arange(n) % 20] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    docs = [Document(id=f"doc-{i}", title=f"{version} title {i}", text=f"text of {i}",
                     metadata={"url": f"https://x.test/{i}", "lang": "en" if i % 3 else "de", "tags": ["a", "b"] if i % 2 else ["c"]})
            for i in range(n)]
    return VectorIndex.from_documents(docs, vectors, model=MODEL, backend="torch", ann="none")


def with_password(url: str) -> str:
    """The same server URL with a password in it (pgserver trusts local sockets, so it is ignored)."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    return url.replace(parts.netloc, f"{user}:{SECRET}@{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}", 1)


@pytest.fixture(scope="module")
def index() -> VectorIndex:
    return make_index()


@pytest.fixture
def store(pg_url, index, request):
    table = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    s = PgVectorStore(pg_url, table)
    s.push(rows_from_index(index), model=MODEL, backend="torch", dim=index.dim, recall_sample=50)
    yield s
    s.close()


def test_push_records_model_and_search_equals_the_embedded_index(store, index):
    info = store.info()
    assert (info.model, info.backend, info.dim, info.rows) == (MODEL, "torch", 384, 600)
    assert info.recall_at_10 is not None and (info.recall_at_10 >= 0.98 or info.ef_search == 1000)
    queries = np.asarray(index._dense(np.arange(0, 600, 37)))
    queries = queries + 0.3 * np.random.default_rng(1).standard_normal(queries.shape).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    want = index.search(queries, k=10, exact=True)
    for got in (store.search(queries, k=10, exact=True), store.search(queries, k=10, ef_search=400)):
        for g, w in zip(got, want, strict=True):
            assert [h.id for h in g] == [h.id for h in w]
            np.testing.assert_allclose([h.score for h in g], [h.score for h in w], atol=1e-5)
            assert g[0].to_dict() | {"score": 0} == w[0].to_dict() | {"score": 0}  # title, text, url, metadata


def test_filters_match_the_embedded_index(store, index):
    query = index._dense(np.array([5]))
    for filters in ({"lang": "de"}, {"tags": "c"}, {"lang": ["de", "en"], "tags": "a"}, {"id": ["doc-1", "doc-2"]}):
        got = [h.id for h in store.search(query, k=8, filters=filters)[0]]
        want = [h.id for h in index.search(query, k=8, filters=filters, exact=True)[0]]
        assert got == want, filters


def test_upsert_and_delete_by_id(store, index):
    rng = np.random.default_rng(7)
    new_vectors = rng.standard_normal((3, 384)).astype(np.float32)
    new_vectors /= np.linalg.norm(new_vectors, axis=1, keepdims=True)
    docs = [Document(id="doc-3", title="updated", text="new text", metadata={"lang": "fr"}),
            Document(id="new-1", title="n1", text="t1"), Document(id="new-2", title="n2", text="t2")]
    assert store.upsert(docs, new_vectors) == (2, 1)
    assert len(store) == 602
    top = store.search(new_vectors[0], k=1, exact=True)[0][0]
    assert (top.id, top.title, top.metadata) == ("doc-3", "updated", {"lang": "fr"})
    assert store.delete(["new-1", "doc-3", "not-there"]) == 2
    assert len(store) == 600
    assert "doc-3" not in {h.id for h in store.search(new_vectors[0], k=20, exact=True)[0]}
    with pytest.raises(StoreError, match="384"):
        store.upsert([Document(id="x", text="x")], np.ones((1, 8), dtype=np.float32))


def test_push_swaps_atomically_under_a_concurrent_reader(pg_url, index):
    import psycopg

    store = PgVectorStore(pg_url, "t_swap")
    store.push(rows_from_index(make_index(300, version="v1")), model=MODEL, backend="torch", dim=384, recall_sample=0)
    seen: set[tuple] = set()
    errors: list[BaseException] = []
    stop = threading.Event()
    reader_store = PgVectorStore(pg_url, "t_swap")
    query = index._dense(np.array([0]))

    def read() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    seen.add(conn.execute("SELECT count(*), min(left(title, 2)), max(left(title, 2)) FROM t_swap").fetchone())
                    assert len(reader_store.search(query, k=5)[0]) == 5
                except BaseException as exc:
                    errors.append(exc)
                    return

    thread = threading.Thread(target=read)
    thread.start()
    try:
        time.sleep(0.3)
        store.push(rows_from_index(make_index(500, seed=3, version="v2")), model=MODEL, backend="onnx", dim=384,
                   recall_sample=0, before_swap=lambda: time.sleep(0.5))  # the reader runs while the new table is complete but not in
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join()
        reader_store.close()
    assert not errors, errors
    assert seen == {(300, "v1", "v1"), (500, "v2", "v2")}
    assert store.info().backend == "onnx"
    with psycopg.connect(pg_url) as conn:  # no temporary tables left behind
        leftovers = conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 't_swap%'").fetchall()
    assert leftovers == [("t_swap",)]
    store.close()


def test_failed_push_leaves_the_old_table(pg_url):
    store = PgVectorStore(pg_url, "t_failed")
    store.push(rows_from_index(make_index(50)), model=MODEL, backend="torch", dim=384, recall_sample=0)

    def boom():
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        store.push(rows_from_index(make_index(80, version="v2")), model=MODEL, backend="torch", dim=384, before_swap=boom)
    assert len(store) == 50 and store.search(np.ones(384, np.float32) / np.sqrt(384), k=1)[0][0].title.startswith("v1")
    dup = [Document(id="same", text="a"), Document(id="same", text="b")]
    with pytest.raises(StoreError, match="duplicate document id 'same'"):
        store.push([(dup, np.eye(2, 384, dtype=np.float32))], model=MODEL, backend="torch", dim=384)
    assert len(store) == 50
    store.close()


def test_bad_url_is_one_clear_line_without_the_password(pg_url, caplog):
    caplog.set_level(logging.DEBUG)
    refused = f"postgresql://alice:{SECRET}@127.0.0.1:1/search"
    with pytest.raises(StoreError) as err:
        PgVectorStore(refused, "docs").info()
    message = str(err.value)
    assert message.startswith("cannot connect to PostgreSQL at postgresql://alice:***@127.0.0.1:1/search:")
    assert SECRET not in message and "\n" not in message
    no_db = with_password(pg_url).replace("/postgres?", "/no_such_db?")
    with pytest.raises(StoreError, match="no_such_db") as err:
        PgVectorStore(no_db, "docs").info()
    assert SECRET not in str(err.value)
    with pytest.raises(StoreError, match="not an embedtune store"):
        PgVectorStore(with_password(pg_url), "never_pushed").info()
    with pytest.raises(StoreError, match="not a PostgreSQL URL") as err:
        PgVectorStore(f"mysql://bob:{SECRET}@db/x", "docs")
    assert SECRET not in str(err.value)
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert redact_url(f"postgresql://u@h/db?sslmode=require&password={SECRET}") == "postgresql://u@h/db?sslmode=require&password=***"


def test_cli_push_and_bad_url(pg_url, index, tmp_path):
    index.save(tmp_path / "index")
    run = subprocess.run([sys.executable, "-m", "embedtune", "index", "push", str(tmp_path / "index"), "--to",
                          with_password(pg_url), "--table", "t_cli", "-q"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "pushed 600 rows" in run.stdout and "recall@10 vs exact" in run.stdout
    assert SECRET not in run.stdout + run.stderr
    bad = subprocess.run([sys.executable, "-m", "embedtune", "index", "push", str(tmp_path / "index"), "--to",
                          f"postgresql://alice:{SECRET}@127.0.0.1:1/db"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "cannot connect to PostgreSQL at postgresql://alice:***@127.0.0.1:1/db" in bad.stderr
    assert SECRET not in bad.stdout + bad.stderr
    with_meta = PgVectorStore(pg_url, "t_cli")
    assert with_meta.info().source == str((tmp_path / "index").resolve())
    with_meta.close()


def test_push_from_embeddings_folder(pg_url, tmp_path, tiny_beir):
    from embedtune.embed import embed_corpus

    embed_corpus(MODEL, tiny_beir, tmp_path / "emb", shard_rows=5, show_progress=False)
    result = push_path(tmp_path / "emb", pg_url, "t_from_emb", recall_sample=0)
    assert result.rows == 12 and result.info.model == MODEL and result.info.kind == "retrieval"
    import psycopg

    with psycopg.connect(pg_url) as conn:
        assert conn.execute(f"SELECT rows FROM {META_TABLE} WHERE table_name = 't_from_emb'").fetchone() == (12,)


def test_serve_store_answers_search_like_the_index_folder(pg_url, tmp_path, tiny_beir):
    from fastapi.testclient import TestClient

    from embedtune.index import build_index
    from embedtune.serve.app import ServeSettings, create_app

    build_index(MODEL, tiny_beir, tmp_path / "index", show_progress=False)
    push_path(tmp_path / "index", pg_url, "t_serve", recall_sample=0)
    settings = ServeSettings(store=with_password(pg_url), table="t_serve", reload_poll_s=0)
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())
    body = {"query": "how do I turn on two-factor authentication?", "k": 3}
    with TestClient(create_app(settings)) as client:
        from_store = client.post("/search", json=body).json()["results"]
        health = client.get("/health").json()
        filtered = client.post("/search", json={**body, "filters": {"id": "security-0"}}).json()["results"]
    with TestClient(create_app(ServeSettings(index=tmp_path / "index", reload_poll_s=0))) as client:
        from_folder = client.post("/search", json=body).json()["results"]
    assert [h["id"] for h in from_store] == [h["id"] for h in from_folder]
    assert from_store[0]["title"] == from_folder[0]["title"] and from_store[0]["id"].startswith("security")
    assert abs(from_store[0]["score"] - from_folder[0]["score"]) < 1e-5
    assert health["documents"] == 12 and health["model"] == MODEL and health["ann"] == "hnsw"
    assert [h["id"] for h in filtered] == ["security-0"]


def test_cli_add_delete_and_build_from_embeddings(pg_url, tmp_path, tiny_beir):
    from embedtune.embed import embed_corpus

    embed_corpus(MODEL, tiny_beir, tmp_path / "emb", shard_rows=5, show_progress=False)
    cli = [sys.executable, "-m", "embedtune"]
    built = subprocess.run(cli + ["index", "build", "--from-embeddings", str(tmp_path / "emb"), "-o", str(tmp_path / "index")],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert "indexed 12 documents" in built.stdout and VectorIndex.load(tmp_path / "index").manifest.model == MODEL
    subprocess.run(cli + ["index", "push", str(tmp_path / "index"), "--to", pg_url, "--table", "t_add", "-q"], check=True,
                   capture_output=True)
    new = tmp_path / "new.jsonl"
    new.write_text('{"_id": "security-0", "title": "Security", "text": "Two-factor codes now come by SMS."}\n'
                   '{"_id": "extra-1", "title": "Extra", "text": "A brand new page."}\n', encoding="utf-8")
    added = subprocess.run(cli + ["index", "add", "--to", with_password(pg_url), "--table", "t_add", "--corpus", str(new), "-q"],
                           capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    assert "added 1, updated 1 documents" in added.stdout and SECRET not in added.stdout
    deleted = subprocess.run(cli + ["index", "delete", "--to", pg_url, "--table", "t_add", "extra-1", "billing-0", "nope"],
                             capture_output=True, text=True)
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted 2 of 3 ids" in deleted.stdout
    store = PgVectorStore(pg_url, "t_add")
    assert len(store) == 11 and store.search(np.ones(384, np.float32), k=20, filters={"id": "security-0"})[0][0].text.startswith("Two-factor codes now")
    store.close()


# ---- lexical and hybrid search: PostgreSQL full-text search over the generated tsv column ----

def _tiny_store(pg_url: str, tiny_beir, table: str) -> tuple[PgVectorStore, dict[str, Document]]:
    """The tiny help center's documents with random vectors (the lexical side never reads them)."""
    from embedtune.data.beir import read_corpus

    corpus = read_corpus(tiny_beir / "corpus.jsonl")
    vectors = np.random.default_rng(0).standard_normal((len(corpus), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = PgVectorStore(pg_url, table)
    store.push([(list(corpus.values()), vectors)], model=MODEL, backend="torch", dim=384, recall_sample=0)
    return store, corpus


def _ids(hits) -> list[str]:
    return [h.id for h in hits]


def test_full_text_search_matches_any_word_ranks_by_ts_rank_cd_and_follows_upserts(pg_url, tiny_beir):
    import psycopg

    from embedtune import bm25
    from embedtune.store.postgres import StoreIndex, any_word_query

    store, corpus = _tiny_store(pg_url, tiny_beir, "t_fts")
    assert store.has_lexical() and store.info().schema_version == 2
    question = "How do I enable two-factor authentication?"
    hits = store.search_lexical([question], k=12)[0]
    # any of its words, as BM25: the same documents BM25 gives a score above 0 (AND would keep only security-2)
    retriever = bm25.build(bm25.tokenize([d.full_text for d in corpus.values()]))
    scored = bm25.scores(retriever, bm25.tokenize([question])[0])
    assert set(_ids(hits)) == {doc_id for doc_id, s in zip(corpus, scored, strict=True) if s > 0} == {"security-0", "security-2"}
    assert _ids(hits)[0] == "security-2"  # holds all three words
    with psycopg.connect(pg_url) as conn:  # the score is ts_rank_cd(tsv, q, 1) over websearch_to_tsquery
        want = dict(conn.execute("SELECT id, ts_rank_cd(tsv, websearch_to_tsquery('english', %s), 1) FROM t_fts",
                                 (any_word_query(question),)).fetchall())
        strict = conn.execute("SELECT count(*) FROM t_fts WHERE tsv @@ websearch_to_tsquery('english', %s)",
                              (question,)).fetchone()[0]
    assert strict == 1 and [h.score for h in hits] == pytest.approx([want[h.id] for h in hits], rel=1e-6)

    several = store.search_lexical(["refund invoice card plan", "how do I", "authentication -recovery",
                                    '"authenticator app"', "notes"], k=3)
    assert len(several[0]) == 3 and len(several[4]) >= 1  # k caps the matches
    for found in several:
        assert [(-h.score, h.id) for h in found] == sorted((-h.score, h.id) for h in found)  # ties by id
    assert several[1] == []  # stop words only: nothing to match
    assert _ids(several[2]) == ["security-0"] and _ids(several[3]) == ["security-0"]  # web-search syntax as written
    assert len(store.search_lexical(["export sync"], k=12)[0]) > 1
    assert _ids(store.search_lexical(["export sync"], k=12, filters={"id": ["export-0", "billing-0"]})[0]) == ["export-0"]

    vectors = np.eye(2, 384, dtype=np.float32)
    store.upsert([Document(id="pigeon", title="Pigeons", text="Notes can be delivered by carrier pigeon."),
                  Document(id="security-2", title="Security", text="Recovery codes are printed once.")], vectors)
    assert _ids(store.search_lexical(["carrier pigeons"], k=5)[0]) == ["pigeon"]  # the generated column follows
    assert _ids(store.search_lexical([question], k=5)[0]) == ["security-0"]
    store.delete(["pigeon"])
    assert store.search_lexical(["carrier pigeons"], k=5)[0] == []

    with psycopg.connect(pg_url) as conn:  # a table pushed before the column existed
        conn.execute("ALTER TABLE t_fts DROP COLUMN tsv")
    assert not store.has_lexical()
    old = StoreIndex(store)
    assert old.lexical is None
    with pytest.raises(StoreError, match="no full-text column"):
        old.search_lexical([question])
    store.close()


def test_serve_store_answers_lexical_and_hybrid_fused_with_the_models_fusion_json(pg_url, tmp_path, tiny_beir, base_model):
    import psycopg
    from fastapi.testclient import TestClient

    from embedtune.base_model import resolve_model_path
    from embedtune.data.beir import read_queries
    from embedtune.encoders import TorchEncoder
    from embedtune.errors import EmbedtuneError
    from embedtune.fusion import FusionSpec, fuse_runs
    from embedtune.index import build_index
    from embedtune.serve.app import ServeSettings, create_app

    encoder = TorchEncoder.from_model(base_model, resolve_model_path(MODEL))
    index = build_index(MODEL, tiny_beir, tmp_path / "index", ann="none", encoder=encoder, show_progress=False)
    spec = FusionSpec(method="wsum", norm="min-max", weights={"model": 0.3, "bm25": 0.7},
                      dev_metric={"hybrid": 0.80, "model": 0.79, "bm25": 0.70}, split="dev")
    model = tmp_path / "model"  # a model folder as the table names it: only its fusion.json matters here
    model.mkdir()
    spec.save(model / "fusion.json")
    store = PgVectorStore(pg_url, "t_hybrid")
    store.push(rows_from_index(index), model=str(model), backend="torch", dim=384, recall_sample=0)

    def run(hits) -> list[tuple[str, float]]:
        return [(h.id, h.score) for h in hits]

    with TestClient(create_app(ServeSettings(store=pg_url, table="t_hybrid", reload_poll_s=0), encoder=encoder)) as client:
        search = client.get("/health").json()["search"]
        assert search["modes"] == ["dense", "lexical", "hybrid"] and search["fusion_source"] == str(model / "fusion.json")
        assert search["default_mode"] == "dense"  # fusion.json's win was with BM25, not with this lexical side
        assert "hybrid with BM25 beat dense" in search["why"] and "PostgreSQL full-text search" in search["why"]
        assert "not the evaluated one" in search["why"]
        queries = [*read_queries(tiny_beir / "queries.jsonl").values(), "how do I"]  # the last: stop words only
        for query in queries:
            vector = encoder.encode([query])
            lexical = store.search_lexical([query], k=spec.depth)[0]
            dense = store.search(vector, k=spec.depth)[0]
            want = fuse_runs(spec, {"model": {"q": run(dense)}, "bm25": {"q": run(lexical)}}, k=5)["q"]
            answers = {mode: client.post("/search", json={"query": query, "k": 5, "mode": mode}).json()
                       for mode in ("lexical", "hybrid", "dense")}
            assert {mode: a["mode"] for mode, a in answers.items()} == {m: m for m in answers}
            assert [h["id"] for h in answers["lexical"]["results"]] == _ids(lexical[:5])
            assert [h["score"] for h in answers["lexical"]["results"]] == pytest.approx([h.score for h in lexical[:5]])
            assert [h["id"] for h in answers["hybrid"]["results"]] == [d for d, _ in want], query
            assert [h["score"] for h in answers["hybrid"]["results"]] == pytest.approx([s for _, s in want], abs=1e-6)
            assert [h["id"] for h in answers["dense"]["results"]] == [h.id for h in dense[:5]]
            assert len(answers["hybrid"]["results"]) == 5  # also when the lexical side found nothing
        hit = client.post("/search", json={"query": "export every note", "k": 1, "mode": "hybrid"}).json()["results"][0]
        assert (hit["id"], hit["title"]) == ("export-0", "Export") and hit["text"].startswith("Choose File > Export")
    with TestClient(create_app(ServeSettings(store=pg_url, table="t_hybrid", reload_poll_s=0, mode="hybrid"),
                               encoder=encoder)) as client:
        search = client.get("/health").json()["search"]
        assert search["default_mode"] == "hybrid" and search["why"].startswith("set by --mode; lexical and hybrid")
        assert client.post("/search", json={"query": "export every note", "k": 3}).json()["mode"] == "hybrid"

    with psycopg.connect(pg_url) as conn:  # a table pushed before the column existed
        conn.execute("ALTER TABLE t_hybrid DROP COLUMN tsv")
    with TestClient(create_app(ServeSettings(store=pg_url, table="t_hybrid", reload_poll_s=0), encoder=encoder)) as client:
        search = client.get("/health").json()["search"]
        assert search["modes"] == ["dense"] and search["default_mode"] == "dense" and "no full-text column" in search["why"]
        assert client.post("/search", json={"query": "export every note", "k": 3}).json()["mode"] == "dense"
        for mode in ("lexical", "hybrid"):
            answer = client.post("/search", json={"query": "export every note", "k": 3, "mode": mode})
            assert answer.status_code == 422 and "no full-text column" in answer.json()["detail"][0]["msg"]
    with pytest.raises(EmbedtuneError, match="--mode hybrid: this store table has no full-text column"):
        create_app(ServeSettings(store=pg_url, table="t_hybrid", reload_poll_s=0, mode="hybrid"), encoder=encoder)
    store.close()
