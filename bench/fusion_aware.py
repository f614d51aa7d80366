"""Train the dense model as the dense part of the hybrid: MNRL whose logits include BM25's fused score.

The hybrid ranks by ``w · z(dense) + (1 − w) · z(BM25)`` (per-query z-scores, :mod:`embedtune.fusion`). Plain
MNRL trains the dense model alone, so it spends capacity on what BM25 already gets right. Here every in-batch
logit is ``scale · cos(q, d) + γ · z_bm25(q, d)`` — BM25's z-score over the query's top 100, 0 for a document
outside it (what ranx's fusion gives a missing document) — so the gradient is large only where the *fused*
ranking is wrong: the dense model learns the residual of BM25 (the idea of Gao et al., "Complement Lexical
Retrieval Model with Semantic Residual Embeddings", ECIR 2021, in MNRL form). ``γ = scale · σ · (1 − w) / w``
makes the two terms weigh as the fusion weights them (σ: the base model's per-query standard deviation of
cosine over its top 100 on the training queries).

Used by ``bench/scifact.py --bm25-logits W`` (issue 13; dev only), or run alone on any DATA_DIR with the
product's training settings (those it recommends, e.g. a site build's)::

    /work/heavy .venv/bin/python bench/fusion_aware.py --dense-weight 0.7 --data bench/out/sd/data \
        --output bench/out/sd/model-fa --set keep=last

:func:`install` wraps
:func:`embedtune.training.prepare` so the prepared datasets get a ``label`` column ``[query, positive,
negative…]`` (row indices into the BM25 table) and the loss is :class:`BM25AwareMNRL`; everything else
(mining, sampler, precision, evaluation) is the product's.
"""

from __future__ import annotations

import numpy as np
import torch
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

DEPTH = 100


class BM25AwareMNRL(MultipleNegativesRankingLoss):
    """MNRL (anchor → candidates) with ``γ · table[query, doc]`` added to every logit (one process only)."""

    def __init__(self, model, table: torch.Tensor, gamma: float, scale: float = 20.0) -> None:
        super().__init__(model, scale=scale)
        self.table, self.gamma = table, gamma

    def compute_loss_from_embeddings(self, embeddings, labels):
        anchors, columns = embeddings[0], embeddings[1:]
        candidates = torch.cat(columns, dim=0)  # all positives, then each negative column
        logits = self.similarity_fct(anchors, candidates) * self.scale
        labels = labels.long().to(self.table.device)
        docs = labels[:, 1:].T.reshape(-1)  # candidate order of the cat above
        bonus = self.table[labels[:, 0]][:, docs]
        logits = logits + self.gamma * bonus.to(logits.dtype).to(logits.device)
        return torch.nn.functional.cross_entropy(logits, torch.arange(anchors.size(0), device=logits.device))

    def get_config_dict(self):
        return {"scale": self.scale, "similarity_fct": self.similarity_fct.__name__, "bm25_gamma": self.gamma}


def training_split(corpus: dict, anchors: list[str]):
    """The training anchors as the queries of a :class:`RetrievalSplit` over ``corpus`` (query id = row). Each is
    judged against the first document only so that ``query_ids`` lists it; no judgment is read."""
    from embedtune.data.records import RetrievalSplit

    first = next(iter(corpus))
    ids = [str(row) for row in range(len(anchors))]
    return RetrievalSplit("train", corpus, dict(zip(ids, anchors, strict=True)), {q: {first: 1} for q in ids})


def bm25_table(split) -> np.ndarray:
    """``[queries, documents]`` (split order): BM25's top ``DEPTH`` per query (the product's BM25System),
    z-scored by ranx as the fusion does (``zmuv``), 0 elsewhere (ranx's fusion value for a missing document)."""
    from ranx import Run, normalize

    from embedtune.eval.systems import BM25System

    ranked = BM25System().rank(split, DEPTH)
    z = normalize(Run({q: dict(docs) for q, docs in ranked.items()}), "zmuv").to_dict()
    column = {d: j for j, d in enumerate(split.corpus)}
    table = np.zeros((len(split.queries), len(column)), dtype=np.float32)
    for q, scores in z.items():
        for d, value in scores.items():
            table[int(q), column[d]] = value
    return table


def cosine_spread(split, dense) -> float:
    """Median over queries of the standard deviation of cosine over ``dense``'s top ``DEPTH`` (a DenseSystem)."""
    return float(np.median([np.std([score for _, score in docs]) for docs in dense.rank(split, DEPTH).values()]))


def install(dense_weight: float, echo=print) -> dict:
    """Make :func:`embedtune.training.train` train with :class:`BM25AwareMNRL`; returns what it chose (filled in
    when training prepares)."""
    import embedtune.training as training

    original = training.prepare
    chosen: dict = {"dense_weight": dense_weight}

    def prepare(config, echo=echo, world_size: int = 1):
        if world_size != 1 or config.mini_batch_size:
            raise SystemExit("--bm25-logits: one process, plain MNRL only")
        prepared = original(config, echo, world_size=world_size)
        from embedtune.dense import DenseSystem

        corpus = prepared.inputs.eval_corpus
        doc_index = {doc.full_text: i for i, doc in enumerate(corpus.values())}
        anchors = sorted({a for ds in prepared.train_datasets.values() for a in ds["anchor"]})
        anchor_index = {a: i for i, a in enumerate(anchors)}
        split = training_split(corpus, anchors)
        table = bm25_table(split)
        # The base model as the final evaluation's `base` system: its corpus embeddings are cached for it.
        spread = cosine_spread(split, DenseSystem("base", config.base_model, model=prepared.model))
        gamma = config.scale * spread * (1 - dense_weight) / dense_weight
        chosen.update(cosine_spread=spread, gamma=gamma, queries=len(anchors), docs=len(corpus))
        echo(f"BM25-aware MNRL: γ = {config.scale:g} × {spread:.4f} × {1 - dense_weight:g}/{dense_weight:g} = {gamma:.3f}")
        for name, ds in prepared.train_datasets.items():
            text_columns = [c for c in ds.column_names if c != "anchor"]
            labels = [[anchor_index[row["anchor"]], *(doc_index[row[c]] for c in text_columns)] for row in ds]
            prepared.train_datasets[name] = ds.add_column("label", labels)
        prepared.loss = BM25AwareMNRL(prepared.model, torch.from_numpy(table), gamma, scale=config.scale)
        return prepared

    training.prepare = prepare
    return chosen


def main() -> None:
    import argparse
    import json
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dense-weight", type=float, required=True, help="the dense part's fusion weight W")
    parser.add_argument("--data", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="any TrainConfig field (as embedtune train's flags)")
    args = parser.parse_args()

    import embedtune

    chosen = install(args.dense_weight)
    run = embedtune.train(data=args.data, output=args.output, show_progress=False,
                          **dict(item.split("=", 1) for item in args.overrides))
    print(json.dumps({"output": str(run.output), "bm25_logits": chosen, "verdict": run.eval.verdict}, indent=2))


if __name__ == "__main__":
    main()
