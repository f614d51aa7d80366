"""Vector index: round trip, equality with brute force, filters, updates, atomic save."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedtune.data import Document
from embedtune.errors import DataError, EmbedtuneError
from embedtune.index import VectorIndex, read_index_corpus


def unit_vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_docs(n: int) -> list[Document]:
    return [
        Document(id=f"d{i}", title=f"Title {i}", text=f"text of document {i} ünïcode",
                 metadata={"url": f"https://example.com/{i}", "lang": "en" if i % 2 else "de", "tags": [f"t{i % 3}"]})
        for i in range(n)
    ]


def brute_force(vectors: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[list[int]]:
    scores = queries @ vectors.T
    if allowed is not None:
        scores[:, ~allowed] = -np.inf
    return [list(np.argsort(-row, kind="stable")[:k]) for row in scores]


def test_round_trip_search_equals_brute_force(tmp_path: Path):
    vectors, docs = unit_vectors(300), make_docs(300)
    queries = unit_vectors(20, seed=1)
    VectorIndex.from_documents(docs, vectors, model="all-MiniLM-L6-v2", ann="none").save(tmp_path / "idx")
    index = VectorIndex.load(tmp_path / "idx")
    assert isinstance(index.vectors, np.memmap)
    assert index.manifest.rows == 300 and index.manifest.ann is None
    results = index.search(queries, k=10)
    expected = brute_force(vectors, queries, 10)
    for hits, rows in zip(results, expected, strict=True):
        assert [h.id for h in hits] == [f"d{r}" for r in rows]
    top = results[0][0]
    row = int(top.id[1:])
    assert top.text == docs[row].text and top.title == docs[row].title
    assert top.url == f"https://example.com/{row}"
    assert top.score == pytest.approx(float(queries[0] @ vectors[row]), abs=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "int8"])
def test_compressed_storage_keeps_the_ranking_close(tmp_path: Path, dtype: str):
    vectors, queries = unit_vectors(500, dim=64), unit_vectors(30, dim=64, seed=2)
    VectorIndex.from_documents(make_docs(500), vectors, model="m", dtype=dtype, ann="none").save(tmp_path / "idx")
    index = VectorIndex.load(tmp_path / "idx")
    assert index.vectors.dtype == np.dtype(dtype)
    expected = brute_force(vectors, queries, 10)
    got = [[int(h.id[1:]) for h in hits] for hits in index.search(queries, k=10)]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(expected, got, strict=True)])
    assert overlap >= 0.9
    assert sum(a[0] == b[0] for a, b in zip(expected, got, strict=True)) >= 27


def test_hnsw_reports_recall_and_matches_exact(tmp_path: Path):
    vectors, queries = unit_vectors(2000, dim=32), unit_vectors(20, dim=32, seed=3)
    index = VectorIndex.from_documents(make_docs(2000), vectors, model="m", ann="hnsw")
    assert index.manifest.ann is not None and index.manifest.ann.recall_at_10 >= 0.98
    index.save(tmp_path / "idx")
    loaded = VectorIndex.load(tmp_path / "idx")
    assert loaded.ann is not None and loaded.manifest.ann.recall_at_10 == index.manifest.ann.recall_at_10
    approx = [[h.id for h in hits] for hits in loaded.search(queries, k=10)]
    exact = [[h.id for h in hits] for hits in loaded.search(queries, k=10, exact=True)]
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx, exact, strict=True)]) >= 0.95


def test_hnsw_recall_is_measured_on_given_queries_and_kept(tmp_path: Path):
    vectors, queries = unit_vectors(2000, dim=32), unit_vectors(50, dim=32, seed=4)
    index = VectorIndex.from_documents(make_docs(2000), vectors, model="m", ann="hnsw", recall_queries=queries)
    info = index.manifest.ann
    assert info.recall_queries == "queries" and info.recall_sample == 50 and info.recall_at_10 >= 0.98
    # the stored figure is what these queries get at the chosen ef_search
    exact = [[h.id for h in hits] for hits in index.search(queries, k=10, exact=True)]
    approx = [[h.id for h in hits] for hits in index.search(queries, k=10)]
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx, exact, strict=True)]) == pytest.approx(info.recall_at_10, abs=1e-4)
    index.save(tmp_path / "idx")
    loaded = VectorIndex.load(tmp_path / "idx")
    assert np.array_equal(loaded.recall_queries, queries)
    assert loaded.measure_ann_recall() == pytest.approx(info.recall_at_10, abs=1e-4)
    # without queries, stored rows stand in with their own row left out
    plain = VectorIndex.from_documents(make_docs(2000), vectors, model="m", ann="hnsw")
    assert plain.manifest.ann.recall_queries == "stored rows" and plain.recall_queries is None


def test_queries_beside_a_corpus_file_are_read(tmp_path: Path):
    (tmp_path / "corpus.jsonl").write_text('{"_id": "a", "text": "alpha"}\n{"_id": "b", "text": "beta"}\n', encoding="utf-8")
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "what is alpha"}\n', encoding="utf-8")
    assert read_index_corpus(tmp_path / "corpus.jsonl").queries == ["what is alpha"]


@pytest.mark.parametrize("ann", ["none", "hnsw"])
def test_filters_on_metadata(ann: str):
    vectors, queries = unit_vectors(400), unit_vectors(5, seed=4)
    index = VectorIndex.from_documents(make_docs(400), vectors, model="m", ann=ann)
    hits = index.search(queries, k=7, filters={"lang": "de"})
    allowed = np.array([i % 2 == 0 for i in range(400)])
    expected = brute_force(vectors, queries, 7, allowed)
    for got, rows in zip(hits, expected, strict=True):
        assert [h.id for h in got] == [f"d{r}" for r in rows]
        assert all(h.metadata["lang"] == "de" for h in got)
    # list-valued fields match any element; a list of wanted values means any of them
    tagged = index.search(queries[:1], k=400, filters={"tags": ["t1", "t2"], "lang": "en"})[0]
    assert tagged and all(h.metadata["tags"][0] in ("t1", "t2") and h.metadata["lang"] == "en" for h in tagged)
    assert len(tagged) == sum(1 for i in range(400) if i % 3 in (1, 2) and i % 2 == 1)
    assert index.search(queries[:1], k=5, filters={"lang": "fr"}) == [[]]


@pytest.mark.parametrize("ann", ["none", "hnsw"])
def test_add_update_delete_without_rebuild(tmp_path: Path, ann: str):
    vectors = unit_vectors(60)
    index = VectorIndex.from_documents(make_docs(50), vectors[:50], model="m", ann=ann)
    index.save(tmp_path / "idx")
    index = VectorIndex.load(tmp_path / "idx")
    # delete: never returned again
    assert index.delete(["d3", "nope"]) == 1
    assert "d3" not in [h.id for h in index.search(vectors[3], k=50)[0]]
    # add new docs + update an existing one (d7 gets d55's vector and a new text)
    new_docs = [Document(id=f"n{i}", title="New", text=f"new {i}") for i in range(5)]
    new_docs.append(Document(id="d7", title="Updated", text="updated text"))
    added, updated = index.add(new_docs, np.vstack([vectors[50:55], vectors[55]]))
    assert (added, updated) == (5, 1)
    assert index.search(vectors[52], k=1)[0][0].id == "n2"
    top = index.search(vectors[55], k=1)[0][0]
    assert (top.id, top.text) == ("d7", "updated text")
    assert len(index) == 50 - 1 + 5
    index.save(tmp_path / "idx")
    reloaded = VectorIndex.load(tmp_path / "idx")
    assert len(reloaded) == 54 and reloaded.document("d7").title == "Updated"
    assert [h.id for h in reloaded.search(vectors[:5], k=3)[4]] == [h.id for h in index.search(vectors[:5], k=3)[4]]
    with pytest.raises(KeyError):
        reloaded.document("d3")


def test_save_compacts_when_many_rows_are_dead(tmp_path: Path):
    vectors = unit_vectors(40)
    index = VectorIndex.from_documents(make_docs(40), vectors, model="m", ann="hnsw")
    index.delete([f"d{i}" for i in range(20)])
    index.save(tmp_path / "idx")
    loaded = VectorIndex.load(tmp_path / "idx")
    assert loaded.rows == 20 and len(loaded) == 20 and loaded.ann.ntotal == 20
    assert loaded.search(vectors[30], k=1)[0][0].id == "d30"


def test_failed_save_leaves_previous_index_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    vectors = unit_vectors(30)
    VectorIndex.from_documents(make_docs(30), vectors, model="m", ann="none").save(tmp_path / "idx")
    def contents(folder: Path) -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    before = contents(tmp_path / "idx")
    index = VectorIndex.load(tmp_path / "idx")
    index.delete(["d0"])
    index.add([Document(id="x", text="x")], unit_vectors(1, seed=9))

    calls = {"n": 0}
    real_save = np.save

    def failing_save(file, arr, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # vectors.npy written, then the disk "fails"
            raise OSError("No space left on device")
        return real_save(file, arr, *args, **kwargs)

    monkeypatch.setattr(np, "save", failing_save)
    with pytest.raises(OSError, match="No space"):
        index.save(tmp_path / "idx")
    monkeypatch.undo()
    assert contents(tmp_path / "idx") == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix != ".lock"] == ["idx"]  # no temporary folder left behind
    assert len(VectorIndex.load(tmp_path / "idx")) == 30


def test_load_rejects_a_folder_that_is_not_an_index(tmp_path: Path):
    with pytest.raises(EmbedtuneError, match="not an embedtune index"):
        VectorIndex.load(tmp_path)
    VectorIndex.from_documents(make_docs(3), unit_vectors(3), model="m").save(tmp_path / "idx")
    (tmp_path / "idx" / "index.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(DataError, match="index.json"):
        VectorIndex.load(tmp_path / "idx")


def test_build_rejects_duplicates_and_bad_options():
    docs = make_docs(2)
    with pytest.raises(EmbedtuneError, match="duplicate"):
        VectorIndex.from_documents([docs[0], docs[0]], unit_vectors(2), model="m")
    with pytest.raises(EmbedtuneError, match="--dtype"):
        VectorIndex.from_documents(docs, unit_vectors(2), model="m", dtype="int4")


def test_read_index_corpus_accepts_file_or_data_dir(tiny_beir: Path, tmp_path: Path):
    from_dir = read_index_corpus(tiny_beir)
    from_file = read_index_corpus(tiny_beir / "corpus.jsonl")
    assert len(from_dir.docs) == len(from_file.docs) == 12
    assert from_dir.data_dir == tiny_beir.resolve() and from_dir.kind == "retrieval" and from_dir.queries
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"_id": "a", "text": "ok"}) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        read_index_corpus(bad)
    with pytest.raises(DataError, match="no corpus.jsonl"):
        read_index_corpus(tmp_path)
