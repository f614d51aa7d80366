"""Hard negatives mined by BM25 or by the hybrid (base model ⊕ BM25), for models that will be served fused.

``hard_negatives_from: dense`` (the default) mines with the base model alone, through
sentence-transformers' ``mine_hard_negatives`` (:func:`embedtune.training.prepare.mine_negatives`).
A model that is served as ``hybrid`` is fused with BM25, and the passages the fusion still ranks high
but are wrong are the ones the dense part must learn to push down: the lexical near-misses BM25
cannot tell apart from the answer. :func:`mine_ranked_negatives` takes them from another ranker:

- ``bm25``: BM25 as :mod:`embedtune.bm25` defines it (what evaluation and serving fuse with);
- ``hybrid``: the base model and BM25 fused by the documented default (:data:`embedtune.fusion.DEFAULT_FUSION`),
  i.e. the ``base_hybrid`` a user gets without training.

The same rules as the dense mining apply: each anchor's candidates ranked ``range_min`` to
``range_max`` by that ranker, the anchor's own positives left out, the ``top`` remaining ones taken,
and a candidate must score below ``(1 - margin) x`` the positive under the base model's cosine (the
guard against unlabelled positives, as in sentence-transformers). A pair left with too few
candidates keeps random corpus negatives (see :func:`embedtune.training.prepare.mine_negatives`).

Example::

    pairs, n_random = mine_ranked_negatives(pairs, model, config, corpus_texts)   # config.hard_negatives_from = "bm25"
"""

from __future__ import annotations

from typing import Any

from embedtune.config import TrainConfig
from embedtune.data.records import Document, Pair, RetrievalSplit
from embedtune.data.runs import Run
from embedtune.errors import EmbedtuneError


def _ranked(source: str, split: RetrievalSplit, dense: Any, depth: int) -> Run:
    from embedtune.eval.systems import BM25System
    from embedtune.fusion import DEFAULT_FUSION, fuse_runs

    lexical = BM25System().rank(split, max(depth, DEFAULT_FUSION.depth))
    if source == "bm25":
        return lexical
    if source == "hybrid":
        runs = {"model": dense.rank(split, DEFAULT_FUSION.depth), "bm25": lexical}
        return fuse_runs(DEFAULT_FUSION, runs, k=depth)
    raise EmbedtuneError(f"hard negatives from {source!r}: expected dense, bm25 or hybrid")


def mine_ranked_negatives(
    pairs: list[Pair], model: Any, config: TrainConfig, corpus_texts: list[str] | None
) -> tuple[list[Pair], list[int]]:
    """Mined negatives per pair from ``config.hard_negatives_from`` (``bm25`` or ``hybrid``).

    Returns the pairs (negatives filled where found, none otherwise) and the indexes of the pairs that
    found fewer than ``config.hard_negatives`` candidates (the caller gives those random ones). ``model``
    is the base model (a ``SentenceTransformer``); ``corpus_texts`` the corpus to mine from (``None``:
    the pairs' positives). Positives missing from the corpus join it, as candidates for other anchors.
    """
    from embedtune.dense import DenseSystem

    k = config.hard_negatives
    positives = list(dict.fromkeys(p.positive for p in pairs))
    texts = list(dict.fromkeys([*(corpus_texts or ()), *positives]))
    doc_ids = [f"d{i}" for i in range(len(texts))]
    row_of_text = {t: i for i, t in enumerate(texts)}
    positives_of: dict[str, set[str]] = {}
    for p in pairs:
        positives_of.setdefault(p.anchor, set()).add(p.positive)
    anchors = list(positives_of)
    query_ids = [f"q{i}" for i in range(len(anchors))]
    split = RetrievalSplit(
        "train",
        {d: Document(d, t) for d, t in zip(doc_ids, texts, strict=True)},
        dict(zip(query_ids, anchors, strict=True)),
        {q: {doc_ids[row_of_text[t]]: 1 for t in positives_of[a]} for q, a in zip(query_ids, anchors, strict=True)},
        # An anchor's own positives are never its negatives.
        exclude={q: {doc_ids[row_of_text[t]] for t in positives_of[a]} for q, a in zip(query_ids, anchors, strict=True)},
    )
    dense = DenseSystem("base", config.base_model, model=model, batch_size=config.eval_batch_size,
                        max_seq_length=config.max_seq_length)
    ranked = _ranked(config.hard_negatives_from, split, dense, config.hard_negative_range_max)
    # The margin is judged by the base model's cosine, as sentence-transformers' mining judges it.
    doc_emb = dense.corpus_embeddings(texts)
    anchor_emb = dense.encode(anchors, "query")
    margin = config.hard_negative_margin

    out: list[Pair] = []
    short: list[int] = []
    row_of_anchor = {a: i for i, a in enumerate(anchors)}
    for i, p in enumerate(pairs):
        row = row_of_anchor[p.anchor]
        query = anchor_emb[row]
        pos_sim = float(query @ doc_emb[row_of_text[p.positive]])
        window = [d for d, _ in ranked.get(query_ids[row], [])][config.hard_negative_range_min:]
        chosen: list[str] = []
        for d in window:
            j = int(d[1:])
            if margin is not None and float(query @ doc_emb[j]) > (1 - margin) * pos_sim:
                continue
            chosen.append(texts[j])
            if len(chosen) == k:
                break
        if len(chosen) < k:
            short.append(i)
            chosen = []
        out.append(Pair(p.anchor, p.positive, tuple(chosen)))
    return out, short
