"""Batch embedding: shard plan, atomic resumable shards, Parquet input, index build from embeddings, Ray equality."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import numpy as np
import pytest

from embedtune.embed import (
    MANIFEST_FILE,
    build_index_from_embeddings,
    embed_corpus,
    iter_embeddings,
    load_manifest,
    plan_shards,
    read_shard,
    resolve_inputs,
)
from embedtune.errors import DataError, EmbedtuneError

MODEL = "all-MiniLM-L6-v2"
WORDS = ("invoice refund password export sync notebook device account backup printer folder calendar reminder "
         "search archive upload share team offline").split()


def write_corpus(path: Path, n: int, seed: int = 0, blank_every: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            text = " ".join(rng.choice(WORDS, size=8))
            fh.write(json.dumps({"_id": f"d{i}", "title": f"Doc {i}", "text": text, "url": f"https://x.test/{i}"}) + "\n")
            if blank_every and i % blank_every == 0:
                fh.write("\n")
    return path


def all_vectors(out: Path) -> tuple[list[str], np.ndarray]:
    ids, blocks = [], []
    for docs, vectors in iter_embeddings(out):
        ids += [d.id for d in docs]
        blocks.append(vectors)
    return ids, np.concatenate(blocks)


def test_jsonl_shards_are_byte_ranges_that_cover_every_row_once(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.jsonl", 23, blank_every=4)
    inputs, shards = plan_shards([corpus], shard_rows=5)
    assert [s.rows for s in shards] == [5, 5, 5, 5, 3] and inputs[0].rows == 23
    ids = [d.id for s in shards for d in read_shard(s)]
    assert ids == [f"d{i}" for i in range(23)]
    assert read_shard(shards[1])[0].metadata == {"url": "https://x.test/5"}


def test_bad_row_names_file_and_line_and_earlier_shards_stay(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.jsonl", 12)
    lines = corpus.read_text().splitlines()
    lines[9] = '{"_id": "d9", "title": 5}'
    corpus.write_text("\n".join(lines) + "\n")
    out = tmp_path / "emb"
    with pytest.raises(DataError, match=r"corpus\.jsonl:10: field 'title' must be a string"):
        embed_corpus(MODEL, corpus, out, shard_rows=4, show_progress=False)
    assert sorted(p.name for p in out.glob("*.parquet")) == ["part-00000.parquet", "part-00001.parquet"]
    assert not list(out.glob(".*tmp"))  # no half-written shard


def test_rerun_skips_finished_shards_and_redoes_a_missing_one(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.jsonl", 30)
    out = tmp_path / "emb"
    first = embed_corpus(MODEL, corpus, out, shard_rows=8, show_progress=False)
    assert (first.embedded, first.skipped, first.documents) == (4, 0, 30)
    manifest = load_manifest(out)
    assert manifest.dim == 384 and manifest.backend == "torch" and all(s.done for s in manifest.shards)
    ids, before = all_vectors(out)
    (out / "part-00002.parquet").unlink()
    again = embed_corpus(MODEL, corpus, out, shard_rows=8, show_progress=False)
    assert (again.embedded, again.skipped, again.documents) == (1, 3, 8)
    ids_after, after = all_vectors(out)
    assert ids_after == ids == [f"d{i}" for i in range(30)]
    np.testing.assert_allclose(after, before, atol=1e-6)


def test_rerun_with_other_settings_is_refused(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.jsonl", 6)
    out = tmp_path / "emb"
    embed_corpus(MODEL, corpus, out, shard_rows=4, show_progress=False)
    with pytest.raises(EmbedtuneError, match=r"--shard-rows 4 \(now 3\)"):
        embed_corpus(MODEL, corpus, out, shard_rows=3, show_progress=False)
    write_corpus(corpus, 7)
    with pytest.raises(EmbedtuneError, match="input files"):
        embed_corpus(MODEL, corpus, out, shard_rows=4, show_progress=False)
    assert embed_corpus(MODEL, corpus, out, shard_rows=4, overwrite=True, show_progress=False).documents == 7


def test_parquet_and_sharded_inputs(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "in"
    src.mkdir()
    for part in range(2):
        rows = [{"id": f"p{part}-{i}", "title": "", "text": f"text {part} {i} " + WORDS[i], "lang": "en"} for i in range(5)]
        pq.write_table(pa.Table.from_pylist(rows), src / f"part-{part}.parquet", row_group_size=2)
    files, _ = resolve_inputs(src)
    assert [f.name for f in files] == ["part-0.parquet", "part-1.parquet"]
    assert [f.name for f in resolve_inputs(str(src / "part-1*"))[0]] == ["part-1.parquet"]
    _, shards = plan_shards(files, shard_rows=3)
    docs = read_shard(shards[1])  # rows 3..4 of the first file, across row groups
    assert [d.id for d in docs] == ["p0-3", "p0-4"] and docs[0].metadata == {"lang": "en"}
    out = tmp_path / "emb"
    embed_corpus(MODEL, src, out, shard_rows=3, show_progress=False)
    ids, vectors = all_vectors(out)
    assert len(ids) == 10 and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_index_from_embeddings_matches_index_build(tmp_path, tiny_beir):
    from embedtune.encoders import load_encoder
    from embedtune.index import build_index

    out = tmp_path / "emb"
    embed_corpus(MODEL, tiny_beir, out, shard_rows=5, show_progress=False)
    index = build_index_from_embeddings(out, tmp_path / "from-emb")
    direct = build_index(MODEL, tiny_beir, tmp_path / "direct", show_progress=False)
    assert index.manifest.model == direct.manifest.model and len(index) == len(direct) == 12
    query = load_encoder(MODEL).encode(["how do I turn on two-factor authentication?"])
    got, want = index.search(query, k=5)[0], direct.search(query, k=5)[0]
    assert [h.id for h in got] == [h.id for h in want]
    assert got[0].title == want[0].title and got[0].text == want[0].text
    np.testing.assert_allclose([h.score for h in got], [h.score for h in want], atol=1e-5)


def test_unfinished_embeddings_cannot_be_indexed(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.jsonl", 6)
    out = tmp_path / "emb"
    embed_corpus(MODEL, corpus, out, shard_rows=4, show_progress=False)
    (out / "part-00001.parquet").unlink()
    with pytest.raises(EmbedtuneError, match="1 of 2 shards are not embedded yet"):
        build_index_from_embeddings(out, tmp_path / "index")
    assert not (tmp_path / "index").exists()


def test_ray_engine_missing_says_how_to_install(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    corpus = write_corpus(tmp_path / "corpus.jsonl", 3)
    with pytest.raises(EmbedtuneError, match=r"pip install 'embedtune\[ray\]'"):
        embed_corpus(MODEL, corpus, tmp_path / "emb", engine="ray", show_progress=False)
    assert not (tmp_path / "emb").exists()


def test_embed_cli_prints_summary_and_exits_2_on_bad_input(tmp_path):
    import subprocess
    import sys

    corpus = write_corpus(tmp_path / "corpus.jsonl", 5)
    run = subprocess.run([sys.executable, "-m", "embedtune", "embed", "-m", MODEL, "-c", str(corpus), "-o",
                          str(tmp_path / "emb"), "--shard-rows", "2", "-q"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "embedded 5 documents in 3 shards" in run.stdout and (tmp_path / "emb" / MANIFEST_FILE).is_file()
    bad = subprocess.run([sys.executable, "-m", "embedtune", "embed", "-m", MODEL, "-c", str(tmp_path / "nope.jsonl"),
                          "-o", str(tmp_path / "emb2"), "-q"], capture_output=True, text=True)
    assert bad.returncode == 2 and "nope.jsonl: not found" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_ray_engine_writes_the_same_vectors_as_local(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray Data is not installed (pip install 'embedtune[ray]'): the Ray engine is not tested")
    corpus = write_corpus(tmp_path / "corpus.jsonl", 1000, seed=1)
    local = embed_corpus(MODEL, corpus, tmp_path / "local", shard_rows=250, threads=1, show_progress=False)
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        distributed = embed_corpus(MODEL, corpus, tmp_path / "ray", engine="ray", shard_rows=250, show_progress=False)
    finally:
        ray.shutdown()
    assert distributed.embedded == local.embedded == 4
    ids_local, v_local = all_vectors(tmp_path / "local")
    ids_ray, v_ray = all_vectors(tmp_path / "ray")
    assert ids_ray == ids_local and len(ids_local) == 1000
    assert np.abs(v_ray - v_local).max() < 1e-5
    assert load_manifest(tmp_path / "ray").model_dump(exclude={"created_at", "updated_at"}) == \
        load_manifest(tmp_path / "local").model_dump(exclude={"created_at", "updated_at"})
