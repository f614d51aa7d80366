"""Vector index: build, save (atomic), load (memory-mapped), search, add / update / delete.

Exact search (inner product over unit vectors = cosine) is the default. For large corpora an HNSW
graph (faiss ``IndexHNSWFlat``, chosen over usearch by ``bench/ann.py``) answers queries in well
under a millisecond; its recall@10 against exact search is measured at build time and stored in the
manifest. Vectors can be stored as float32, float16 or int8 (per-dimension scale). Updates append
rows and mark replaced or deleted rows as tombstones, so nothing is re-encoded; :meth:`compact`
(run automatically on save once a quarter of the rows are dead) drops them. The on-disk layout is
documented in ``docs/index.md``.

Example::

    from embedtune.index import build_index, VectorIndex
    from embedtune.encoders import load_encoder
    build_index("all-MiniLM-L6-v2", "data/corpus.jsonl", "my-index")
    index = VectorIndex.load("my-index")
    encoder = load_encoder(index.manifest.model, index.manifest.backend)
    hits = index.search(encoder.encode(["reset password"]), k=5)[0]

The package's parts: :mod:`~embedtune.index.store` (the folder format, :class:`VectorIndex`, search
and updates), :mod:`~embedtune.index.lexical` (the BM25 part beside the vectors, kept in step),
:mod:`~embedtune.index.hybrid` (search modes dense / lexical / hybrid, and the default one),
:mod:`~embedtune.index.build` (from a corpus on disk: build, add, delete) and
:mod:`~embedtune.index.lock` (one writer at a time; readers never see a half-written index).
"""

from embedtune.index.build import (
    CorpusSource,
    add_to_index,
    build_index,
    cached_index,
    delete_from_index,
    model_reference,
    read_index_corpus,
    recall_query_vectors,
)
from embedtune.index.lock import index_lock, writers_excluded
from embedtune.index.store import (
    ANN_AUTO_MIN_ROWS,
    ANN_MODES,
    COMPACT_DEAD_FRACTION,
    DTYPES,
    EXACT_FILTER_MAX_ROWS,
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_M,
    HNSW_TARGET_RECALL,
    MANIFEST_FILE,
    RECALL_SAMPLE,
    SCHEMA_VERSION,
    AnnInfo,
    AnnMode,
    IndexManifest,
    SearchHit,
    VectorDType,
    VectorIndex,
    read_index_manifest,
)

__all__ = [
    "ANN_AUTO_MIN_ROWS", "ANN_MODES", "COMPACT_DEAD_FRACTION", "DTYPES", "EXACT_FILTER_MAX_ROWS", "HNSW_EF_CONSTRUCTION",
    "HNSW_EF_SEARCH", "HNSW_M", "HNSW_TARGET_RECALL", "MANIFEST_FILE", "RECALL_SAMPLE", "SCHEMA_VERSION", "AnnInfo",
    "AnnMode", "CorpusSource", "IndexManifest", "SearchHit", "VectorDType", "VectorIndex", "add_to_index", "build_index", "cached_index",
    "delete_from_index", "index_lock", "model_reference", "read_index_corpus", "read_index_manifest",
    "recall_query_vectors", "writers_excluded",
]
