"""Building and updating an index from paths: read a corpus (or DATA_DIR), encode it, save; add and
delete documents in place under the index's writer lock (:mod:`embedtune.index.lock`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedtune.base_model import BUNDLED_ALIASES, resolve_model_path
from embedtune.data.beir import read_corpus, read_manifest
from embedtune.data.records import Document
from embedtune.errors import DataError, EmbedtuneError
from embedtune.fileio import check_output_dir
from embedtune.index.lock import index_lock
from embedtune.index.store import RECALL_SAMPLE, VectorIndex, read_index_manifest


def model_reference(model: str | Path) -> str:
    """How the manifest names a model: the bundled alias as is, anything else as an absolute path."""
    return str(model) if str(model) in BUNDLED_ALIASES else str(resolve_model_path(model).resolve())


@dataclass
class CorpusSource:
    docs: list[Document]
    corpus_path: Path
    data_dir: Path | None
    kind: str
    queries: list[str] = field(default_factory=list)


def read_index_corpus(corpus: str | Path) -> CorpusSource:
    """Read a BEIR ``corpus.jsonl`` or a DATA_DIR holding one (site, retrieval or recsys)."""
    corpus = Path(corpus)
    if corpus.is_dir():
        corpus_path = corpus / "corpus.jsonl"
        if not corpus_path.is_file():
            raise DataError(corpus, "folder has no corpus.jsonl (give a corpus.jsonl or a DATA_DIR that holds one)")
        data_dir: Path | None = corpus
    elif corpus.is_file():
        corpus_path, data_dir = corpus, None
        if (corpus.parent / "embedtune.json").is_file():
            data_dir = corpus.parent
    else:
        raise DataError(corpus, "not found (give a corpus.jsonl or a DATA_DIR that holds one)")
    docs = list(read_corpus(corpus_path).values())
    kind = str(read_manifest(data_dir).get("kind", "retrieval")) if data_dir else "retrieval"
    queries: list[str] = []
    queries_file = (data_dir or corpus_path.parent) / "queries.jsonl"  # a DATA_DIR's, or the BEIR file beside the corpus
    if queries_file.is_file():
        from embedtune.fileio import iter_jsonl

        queries = [str(obj.get("text", "")) for _line, obj in iter_jsonl(queries_file) if obj.get("text")]
    return CorpusSource(docs=docs, corpus_path=corpus_path.resolve(), data_dir=data_dir.resolve() if data_dir else None,
                        kind=kind, queries=queries)


def lexical_expansions(model: str | Path, source: CorpusSource) -> dict[str, list[str]]:
    """The training queries the lexical part indexes with each document: those of the DATA_DIR, when the model's
    ``fusion.json`` chose them on dev (``expansion``), so the served hybrid is the evaluated one; else none."""
    from embedtune.data.expansion import training_expansions
    from embedtune.fusion import FUSION_FILE, FusionSpec, model_folder

    folder = model_folder(model)
    if folder is None or not (folder / FUSION_FILE).is_file() or source.data_dir is None:
        return {}
    if FusionSpec.load(folder / FUSION_FILE).expansion is None:
        return {}
    return training_expansions(source.data_dir, [d.id for d in source.docs])


def recall_query_vectors(encoder: Any, queries: list[str]) -> np.ndarray | None:
    """Vectors of up to ``RECALL_SAMPLE`` of a corpus's queries (seeded sample), to measure HNSW recall with."""
    from embedtune.encoders import sample_texts

    texts = sample_texts([q for q in queries if q.strip()], n=RECALL_SAMPLE)
    return encoder.encode(texts) if texts else None


def build_index(model: str | Path, corpus: str | Path, output: str | Path, ann: str = "auto",
                dtype: str = "float32", backend: str = "torch", batch_size: int = 32,
                show_progress: bool = True, encoder: Any = None, overwrite: bool = False,
                attachments: Mapping[str, Callable[[Path], None]] | None = None) -> VectorIndex:
    """Encode a corpus and save an index folder at ``output`` (atomically).

    ``output`` is checked first (:func:`~embedtune.fileio.check_output_dir`): it may be missing, empty
    or a previous index; a folder holding anything else is replaced only with ``overwrite``.
    ``attachments``: writers of extra sub-folders saved with the index (name → write(folder)); for a
    recommendation DATA_DIR, :func:`embedtune.recsys.stats.index_attachments` gives its statistics —
    the index layer itself knows nothing of recommendation."""
    from embedtune.encoders import load_encoder

    check_output_dir(output, overwrite=overwrite, producer="index")
    source = read_index_corpus(corpus)
    texts = [d.full_text for d in source.docs]
    if encoder is None:
        encoder = load_encoder(model, backend, check_texts=texts + source.queries)
    agreement = encoder.agreement.to_dict() if getattr(encoder, "agreement", None) else None
    vectors = encoder.encode(texts, batch_size=batch_size, show_progress=show_progress)
    index = VectorIndex.from_documents(
        source.docs, vectors, model=model_reference(model), backend=encoder.backend, dtype=dtype, ann=ann,
        kind=source.kind, source=str(source.corpus_path), data_dir=str(source.data_dir) if source.data_dir else None,
        agreement=agreement, recall_queries=recall_query_vectors(encoder, source.queries),
        expansions=lexical_expansions(model, source),
    )
    index.attachments.update(attachments or {})
    index.save(output, overwrite=overwrite)
    return index


def add_to_index(index_path: str | Path, corpus: str | Path, encoder: Any = None, batch_size: int = 32,
                 show_progress: bool = True) -> tuple[int, int]:
    """Upsert the documents of ``corpus`` into the index at ``index_path``; returns (added, updated).

    The documents are encoded first; then, holding the index's writer lock
    (:func:`~embedtune.index.lock.index_lock`) from load to save, the index is read, updated and saved, so
    concurrent adds and deletes on one index all take effect, one after the other."""
    from embedtune.encoders import load_encoder

    source = read_index_corpus(corpus)
    manifest = read_index_manifest(index_path)
    encoder = encoder or load_encoder(manifest.model, manifest.backend)
    vectors = encoder.encode([d.full_text for d in source.docs], batch_size=batch_size, show_progress=show_progress)
    with index_lock(index_path):
        index = VectorIndex.load(index_path)
        if (index.manifest.model, index.manifest.dim) != (manifest.model, manifest.dim):
            raise EmbedtuneError(f"{index_path} was rebuilt with another model while the documents were encoded; "
                                 "run the add again")
        result = index.add(source.docs, vectors)
        index.save(index_path)
    return result


def delete_from_index(index_path: str | Path, doc_ids: list[str]) -> int:
    """Delete documents by id from the index at ``index_path``; returns how many existed.
    Holds the index's writer lock from load to save (see :func:`add_to_index`)."""
    with index_lock(index_path):
        index = VectorIndex.load(index_path)
        n = index.delete(doc_ids)
        if n:
            index.save(index_path)
    return n


def cached_index(model: str | Path, data: str | Path, backend: str = "torch", *, show_progress: bool = True,
                 on_build: Callable[[Path, Path], None] | None = None) -> Path:
    """An exact index of ``data`` (a DATA_DIR or a ``corpus.jsonl``) for ``model``, built on first use in
    the cache (``embedtune.fileio.cache_root() / "indexes"``) and reused while neither the model's weights
    nor the corpus file change (``embedtune search --model M --corpus C``). ``on_build(corpus_file, path)``
    is called before a build."""
    import hashlib

    from embedtune.base_model import model_fingerprint
    from embedtune.fileio import cache_root

    corpus_path = Path(data)
    corpus_file = corpus_path / "corpus.jsonl" if corpus_path.is_dir() else corpus_path
    if not corpus_file.is_file():
        raise EmbedtuneError(f"{data}: no corpus.jsonl found (give a DATA_DIR or a corpus.jsonl)")
    stat = corpus_file.stat()
    model_ref = model_reference(model)
    model_stamp = model_fingerprint(resolve_model_path(model_ref))
    key = hashlib.sha256(
        # "lexical": indexes cached before the lexical part existed are not reused (they could not serve hybrid)
        f"{model_ref}|{model_stamp}|{corpus_file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{backend}|lexical".encode()
    ).hexdigest()[:20]
    path = cache_root() / "indexes" / key
    if not (path / "index.json").is_file():
        if on_build is not None:
            on_build(corpus_file, path)
        build_index(model, corpus_file, path, ann="none", backend=backend, show_progress=show_progress)
    return path
