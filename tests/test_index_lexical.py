"""An index's lexical part: BM25 scores equal to evaluation's, in step with the vectors through save,
load, add, update, delete and compaction; indexes from before it still load and serve dense."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from embedtune.data import Document
from embedtune.data.records import RetrievalSplit
from embedtune.errors import DataError, EmbedtuneError
from embedtune.eval.systems import BM25System
from embedtune.index import VectorIndex

TEXTS = [
    ("Billing", "Open Settings, choose Billing and click Replace card to enter a new payment card."),
    ("Refunds", "Annual plans can be refunded in full within 30 days of purchase by contacting support."),
    ("Invoices", "Every invoice is listed under Billing > History as a PDF you can download."),
    ("Sync", "Sync pauses when a device is offline; reconnect to the internet to resume syncing notes."),
    ("Security", "Go to Account > Security and scan the QR code with an authenticator app to turn on 2FA."),
    ("Export", "Choose File > Export workspace to download every note as Markdown in a zip archive."),
    ("Printing", "Open the notebook, press Ctrl+P and pick which sections to include in the printout."),
    ("Attachments", "Attachments are exported next to each Markdown file in an attachments folder."),
    ("", "a"),  # no token at all: scores 0 for every query
]
QUERIES = ["replace my payment card", "download invoices as PDF", "export notes to markdown", "the and of",
           "zebra", "billing billing history", "attachments folder markdown export"]


def make_docs(n: int = len(TEXTS), prefix: str = "d") -> list[Document]:
    # Ids out of row order, so ties settled by id and by row differ.
    return [Document(id=f"{prefix}{(7 * i) % 10}-{i}", title=TEXTS[i % len(TEXTS)][0], text=TEXTS[i % len(TEXTS)][1],
                     metadata={"lang": "en" if i % 2 else "de"}) for i in range(n)]


def vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, 8)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def evaluated(docs: list[Document], k: int) -> dict[str, list[tuple[str, float]]]:
    """The bm25 ranking `embedtune eval` computes over ``docs`` for every query."""
    split = RetrievalSplit("test", {d.id: d for d in docs}, {f"q{i}": q for i, q in enumerate(QUERIES)},
                           {f"q{i}": {docs[0].id: 1} for i in range(len(QUERIES))})
    return BM25System().rank(split, k)


def served(index: VectorIndex, k: int, filters=None) -> dict[str, list[tuple[str, float]]]:
    return {f"q{i}": [(h.id, h.score) for h in hits]
            for i, hits in enumerate(index.search_lexical(QUERIES, k=k, filters=filters))}


def assert_same_ranking(index: VectorIndex, docs: list[Document], k: int = 20) -> None:
    expected, got = evaluated(docs, k), served(index, k)
    for qid in expected:
        assert [d for d, _ in got[qid]] == [d for d, _ in expected[qid]], qid
        assert np.allclose([s for _, s in got[qid]], [s for _, s in expected[qid]], rtol=0, atol=0), qid


def test_lexical_ranking_equals_evaluations_bm25_through_save_and_load(tmp_path: Path):
    docs = make_docs()
    index = VectorIndex.from_documents(docs, vectors(len(docs)), model="m", ann="none")
    assert_same_ranking(index, docs)
    index.save(tmp_path / "idx")
    assert (tmp_path / "idx" / "bm25" / "tokens.npy").is_file()
    loaded = VectorIndex.load(tmp_path / "idx")
    info = loaded.manifest.lexical
    assert info is not None and (info.library, info.k1, info.b, info.documents) == ("bm25s", 1.5, 0.75, len(docs))
    assert_same_ranking(loaded, docs)
    # fewer matches than k: the rest follow by id with score 0, exactly as evaluation ranks them
    zebra = served(loaded, 5)["q4"]
    assert [d for d, _ in zebra] == sorted(d.id for d in docs)[:5] and {s for _, s in zebra} == {0.0}


def test_add_update_delete_keep_the_lexical_part_in_step(tmp_path: Path):
    docs = make_docs()
    VectorIndex.from_documents(docs, vectors(len(docs)), model="m", ann="none").save(tmp_path / "idx")
    index = VectorIndex.load(tmp_path / "idx")
    # delete: gone from lexical results, and every other score follows the smaller corpus
    assert index.delete([docs[2].id]) == 1
    live = [d for d in docs if d.id != docs[2].id]
    assert_same_ranking(index, live)
    # add two new documents and update one (same id, new text)
    new = [Document(id="new-1", title="Invoices", text="Invoices for annual plans are emailed as PDF files."),
           Document(id="new-2", text="Markdown export keeps attachments.")]
    updated = Document(id=docs[5].id, title="Export", text="Exports are zip archives of PDF files.")
    assert index.add([*new, updated], vectors(3, seed=1)) == (2, 1)
    live = [d for d in live if d.id != updated.id] + [*new, updated]
    assert_same_ranking(index, live)
    index.save(tmp_path / "idx")
    reloaded = VectorIndex.load(tmp_path / "idx")
    assert reloaded.rows == len(docs) + 3 and reloaded.manifest.lexical.documents == len(live)
    assert_same_ranking(reloaded, live)
    # dense and lexical answer from the same rows: the updated document's new text is what both return
    top = reloaded.search_lexical(["zip archives of PDF files"], k=1)[0][0]
    assert (top.id, top.text) == (updated.id, updated.text)


def test_compaction_keeps_vectors_and_lexical_rows_together(tmp_path: Path):
    docs = make_docs(12)
    vecs = vectors(12)
    index = VectorIndex.from_documents(docs, vecs, model="m", ann="none")
    gone = {d.id for d in docs[:5]}
    index.delete(sorted(gone))
    index.save(tmp_path / "idx")  # 5 of 12 dead: compacted
    loaded = VectorIndex.load(tmp_path / "idx")
    live = [d for d in docs if d.id not in gone]
    assert loaded.rows == len(live)
    assert_same_ranking(loaded, live)
    assert loaded.search(vecs[8], k=1)[0][0].id == docs[8].id


def test_filters_apply_to_lexical_search():
    docs = make_docs()
    index = VectorIndex.from_documents(docs, vectors(len(docs)), model="m", ann="none")
    english = {d.id for d in docs if d.metadata["lang"] == "en"}
    everything, filtered = served(index, len(docs)), served(index, len(docs), filters={"lang": "en"})
    for qid, ranking in everything.items():
        assert [d for d, _ in filtered[qid]] == [d for d, _ in ranking if d in english]


def old_index(path: Path, docs: list[Document]) -> Path:
    """An index folder as embedtune wrote it before the lexical part existed."""
    VectorIndex.from_documents(docs, vectors(len(docs)), model="m", ann="none").save(path)
    shutil.rmtree(path / "bm25")
    manifest = json.loads((path / "index.json").read_text(encoding="utf-8"))
    del manifest["lexical"]
    (path / "index.json").write_text(json.dumps(manifest), encoding="utf-8")
    return path


def test_an_index_without_a_lexical_part_serves_dense_and_gets_one_on_its_next_save(tmp_path: Path):
    docs = make_docs()
    index = VectorIndex.load(old_index(tmp_path / "idx", docs))
    assert index.lexical is None and index.manifest.lexical is None
    assert index.search(vectors(len(docs))[3], k=1)[0][0].id == docs[3].id
    with pytest.raises(EmbedtuneError, match="no lexical part"):
        index.search_lexical(["billing"])
    index.delete([docs[0].id])
    index.save(tmp_path / "idx")
    assert_same_ranking(VectorIndex.load(tmp_path / "idx"), docs[1:])


def test_a_lexical_part_out_of_step_with_the_vectors_is_refused(tmp_path: Path):
    docs = make_docs()
    VectorIndex.from_documents(docs, vectors(len(docs)), model="m", ann="none").save(tmp_path / "idx")
    VectorIndex.from_documents(docs[:4], vectors(4), model="m", ann="none").save(tmp_path / "other")
    shutil.rmtree(tmp_path / "idx" / "bm25")
    shutil.copytree(tmp_path / "other" / "bm25", tmp_path / "idx" / "bm25")
    with pytest.raises(DataError, match="bm25.*lexical index holds 4 rows"):
        VectorIndex.load(tmp_path / "idx")
