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

:func:`install_bias` wraps :func:`embedtune.training.prepare` so the prepared datasets get a ``label`` column
``[log q, query, positive, negative…]`` (rows and columns of a bias table; log q as the product's loss has it, 0
without the logQ correction) and the loss is :class:`BiasedMNRL`; everything else (mining, sampler, precision,
evaluation) is the product's. :func:`install` gives it BM25's table; ``bench/recsys_residual.py`` the
recommendation parts' table.
"""

from __future__ import annotations

import numpy as np
import torch
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

DEPTH = 100


class BiasedMNRL(MultipleNegativesRankingLoss):
    """MNRL (anchor → candidates) with ``γ · table[query, doc]`` added to every logit, and the logQ correction
    of :class:`embedtune.losses.LogQCorrectedMNRL` when ``logq`` (one process only). ``labels`` per row:
    ``[log q (0 when off), query row, positive column, negative columns…]``."""

    def __init__(self, model, table: torch.Tensor, gamma: float, scale: float = 20.0, logq: bool = False) -> None:
        super().__init__(model, scale=scale)
        self.table, self.gamma, self.logq = table, gamma, logq

    def compute_loss_from_embeddings(self, embeddings, labels):
        anchors, columns = embeddings[0], embeddings[1:]
        candidates = torch.cat(columns, dim=0)  # all positives, then each negative column
        logits = self.similarity_fct(anchors, candidates) * self.scale
        labels = labels.to(torch.float64)
        if self.logq:  # in-batch positives only, centred on the batch mean, as LogQCorrectedMNRL
            log_q = labels[:, 0].to(logits.dtype).to(logits.device)
            correction = torch.zeros(candidates.size(0), dtype=logits.dtype, device=logits.device)
            correction[: anchors.size(0)] = log_q - log_q.mean()
            logits = logits - correction.unsqueeze(0)
        docs = labels[:, 2:].long().T.reshape(-1)  # candidate order of the cat above
        bonus = self.table[labels[:, 1].long()][:, docs]
        logits = logits + self.gamma * bonus.to(logits.dtype).to(logits.device)
        return torch.nn.functional.cross_entropy(logits, torch.arange(anchors.size(0), device=logits.device))

    def get_config_dict(self):
        return {"scale": self.scale, "similarity_fct": self.similarity_fct.__name__, "logq_correction": self.logq,
                "bias_gamma": self.gamma}


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


def install_bias(weight: float, build, echo=print, name: str = "BM25-aware MNRL") -> dict:
    """Make :func:`embedtune.training.train` train with :class:`BiasedMNRL`; returns what it chose (filled in
    when training prepares). ``build(prepared, config)`` → ``(table, row of each anchor text, column of each
    candidate text, cosine spread σ, details)``; ``γ = scale · σ · (1 − weight) / weight``."""
    import embedtune.training as training

    original = training.prepare
    chosen: dict = {"weight": weight}

    def prepare(config, echo=echo, world_size: int = 1):
        if world_size != 1 or config.mini_batch_size:
            raise SystemExit(f"{name}: one process, plain MNRL only")
        prepared = original(config, echo, world_size=world_size)
        table, row_of, col_of, spread, details = build(prepared, config)
        gamma = config.scale * spread * (1 - weight) / weight
        chosen.update(cosine_spread=spread, gamma=gamma, **details)
        echo(f"{name}: γ = {config.scale:g} × {spread:.4f} × {1 - weight:g}/{weight:g} = {gamma:.3f}")
        for key, ds in prepared.train_datasets.items():
            text_columns = [c for c in ds.column_names if c not in ("anchor", "label")]
            log_q = ds["label"] if prepared.use_logq else [0.0] * len(ds)
            labels = [[lq, row_of[row["anchor"]], *(col_of[row[c]] for c in text_columns)]
                      for lq, row in zip(log_q, ds, strict=True)]
            if "label" in ds.column_names:
                ds = ds.remove_columns("label")
            prepared.train_datasets[key] = ds.add_column("label", labels)
        prepared.loss = BiasedMNRL(prepared.model, torch.from_numpy(table), gamma, config.scale, prepared.use_logq)
        return prepared

    training.prepare = prepare
    return chosen


def install(dense_weight: float, echo=print) -> dict:
    """:func:`install_bias` with BM25's table over the training anchors (the dense part's weight ``dense_weight``)."""

    def build(prepared, config):
        from embedtune.dense import DenseSystem

        corpus = prepared.inputs.eval_corpus
        doc_index = {doc.full_text: i for i, doc in enumerate(corpus.values())}
        anchors = sorted({a for ds in prepared.train_datasets.values() for a in ds["anchor"]})
        split = training_split(corpus, anchors)
        # The base model as the final evaluation's `base` system: its corpus embeddings are cached for it.
        spread = cosine_spread(split, DenseSystem("base", config.base_model, model=prepared.model))
        return (bm25_table(split), {a: i for i, a in enumerate(anchors)}, doc_index, spread,
                {"queries": len(anchors), "docs": len(corpus)})

    return install_bias(dense_weight, build, echo)


def training_parser(doc: str):
    """The arguments of a biased training run: ``--data``, ``--output``, ``--set KEY=VALUE``."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="any TrainConfig field (as embedtune train's flags)")
    return parser


def train_and_report(args, chosen: dict, key: str) -> None:
    """``embedtune.train`` with ``args``' data, output and overrides; prints what the bias chose and the verdict."""
    import json

    import embedtune

    run = embedtune.train(data=args.data, output=args.output, show_progress=False,
                          **dict(item.split("=", 1) for item in args.overrides))
    print(json.dumps({"output": str(run.output), key: chosen, "verdict": run.eval.verdict}, indent=2))


def main() -> None:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = training_parser(__doc__)
    parser.add_argument("--dense-weight", type=float, required=True, help="the dense part's fusion weight W")
    args = parser.parse_args()
    train_and_report(args, install(args.dense_weight), "bm25_logits")


if __name__ == "__main__":
    main()
