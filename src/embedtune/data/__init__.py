"""Records passed between stages and the file formats they live in (pairs, BEIR retrieval splits)."""

from embedtune.data.beir import (
    available_splits,
    load_retrieval_split,
    read_corpus,
    read_qrels,
    read_queries,
    write_beir,
)
from embedtune.data.pairs import load_training_pairs, read_pairs, write_pairs
from embedtune.data.records import Document, Pair, RetrievalSplit

__all__ = [
    "Document",
    "Pair",
    "RetrievalSplit",
    "available_splits",
    "load_retrieval_split",
    "load_training_pairs",
    "read_corpus",
    "read_pairs",
    "read_qrels",
    "read_queries",
    "write_beir",
    "write_pairs",
]
