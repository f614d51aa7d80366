"""Train the text tower as the residual of the item-to-item parts (recommendation data; DEV split only).

The recommendation hybrid ranks by ``w · z(tower) + Σ_p w_p · z(p)`` over the item-to-item parts p
(co-occurrence, transitions, attributes, popularity: per-user z-scores of each part's top 100, history
excluded, :mod:`embedtune.eval.hybrid`). Plain in-batch training spends the tower on what those parts already
rank well. Here every in-batch logit (the product's loss: logQ-corrected MNRL on recommendation data) gets
``γ · F(user, item)`` added, ``F`` being the parts' fused z-score at the training position, so the gradient is
large only where the *fused* ranking is wrong — the recommendation analogue of ``bench/fusion_aware.py`` (issue
13's BM25 residual; Gao et al., ECIR 2021, in MNRL form). ``γ = scale · σ · (1 − w) / w`` (σ: the base model's
median per-user standard deviation of cosine over its top 100 items) weighs the two terms as the fusion does.

The statistics ``F`` reads are **cross-fitted**: users are split into ``--folds`` folds and a training position
of a user in fold k is scored with :class:`~embedtune.recsys.stats.ItemStats` counted from the other folds'
training events only, so the user's own later events (the training target among them) never feed their bias.
History (the user's items before the target) comes from the full log, as the profile does.

Trains as ``embedtune train`` would with the given settings (everything else — sampler, precision, evaluation —
is the product's); compare the tower with ``bench/recsys_fusion_cv.py`` / ``bench/recsys_cold_rule_dev.py``.
The test split is never read when ``--set final_split=dev`` is passed::

    /work/heavy .venv/bin/python bench/recsys_residual.py --data bench/out/shop0/data \
        --output bench/out/shop0/model-resid --model-weight 0.4 --weights transitions=0.1,attributes=0.5 \
        --set epochs=2 --set batch_size=32 --set lr=2e-4 --set max_seq_length=160 --set final_split=dev
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

DEPTH = 100
ALL_HISTORY = 10**9


class ResidualMNRL(MultipleNegativesRankingLoss):
    """(logQ-corrected) MNRL with ``γ · table[query, item]`` added to every logit (one process only).

    ``labels`` per row: ``[log q, query row, positive column, negative columns…]`` (log q 0 when off)."""

    def __init__(self, model, table: torch.Tensor, gamma: float, scale: float, logq: bool) -> None:
        super().__init__(model, scale=scale)
        self.table, self.gamma, self.logq = table, gamma, logq

    def compute_loss_from_embeddings(self, embeddings, labels):
        anchors, columns = embeddings[0], embeddings[1:]
        candidates = torch.cat(columns, dim=0)
        logits = self.similarity_fct(anchors, candidates) * self.scale
        labels = labels.to(torch.float64)
        if self.logq:  # as LogQCorrectedMNRL: in-batch positives only, centred on the batch mean
            log_q = labels[:, 0].to(logits.dtype).to(logits.device)
            correction = torch.zeros(candidates.size(0), dtype=logits.dtype, device=logits.device)
            correction[: anchors.size(0)] = log_q - log_q.mean()
            logits = logits - correction.unsqueeze(0)
        rows = labels[:, 1].long()
        docs = labels[:, 2:].long().T.reshape(-1)  # the candidate order of the cat above
        logits = logits + self.gamma * self.table[rows][:, docs].to(logits.dtype).to(logits.device)
        return torch.nn.functional.cross_entropy(logits, torch.arange(anchors.size(0), device=logits.device))

    def get_config_dict(self):
        return {"scale": self.scale, "similarity_fct": self.similarity_fct.__name__, "logq_correction": self.logq,
                "residual_gamma": self.gamma}


def fold_stats(data_dir: Path, users_out: set[str], item_ids: list[str]):
    """ItemStats counted without ``users_out``'s events (a filtered copy of interactions.parquet)."""
    import duckdb

    from embedtune.recsys.build import INTERACTIONS_FILE
    from embedtune.recsys.sql import literal
    from embedtune.recsys.stats import ItemStats

    with tempfile.TemporaryDirectory() as tmp:
        for name in ("corpus.jsonl", "embedtune.json"):
            (Path(tmp) / name).symlink_to((data_dir / name).resolve())
        con = duckdb.connect()
        con.execute("CREATE TEMP TABLE out_users (user_id VARCHAR)")
        con.executemany("INSERT INTO out_users VALUES (?)", [(u,) for u in sorted(users_out)])
        con.execute(f"""COPY (SELECT * FROM read_parquet({literal(data_dir / INTERACTIONS_FILE)})
                            WHERE CAST(user_id AS VARCHAR) NOT IN (SELECT user_id FROM out_users))
                        TO {literal(Path(tmp) / INTERACTIONS_FILE)} (FORMAT parquet)""")
        con.close()
        return ItemStats.from_data_dir(tmp, item_ids)


def residual_table(data_dir: Path, train, weights: dict[str, float], folds: int, seed: int = 0) -> np.ndarray:
    """``[query, item]`` (``train``'s query and corpus order): the parts' fused z-score (weights normalised to 1)
    at each training position, each part being the product's recommender over cross-fitted statistics; 0 for an
    item no part lists (ranx's value for a missing document) and for the user's earlier items (excluded, as the
    evaluation excludes them)."""
    from dataclasses import replace

    from recsys_fusion_cv import zscored  # bench/ is on sys.path when a bench script runs

    from embedtune.recsys.baselines import (
        AttributesRecommender,
        CooccurrenceRecommender,
        PopularityRecommender,
        TransitionsRecommender,
        query_histories,
    )
    from embedtune.recsys.stats import connect_interactions

    recommenders = {"cooccurrence": CooccurrenceRecommender, "transitions": TransitionsRecommender,
                    "attributes": AttributesRecommender, "popularity": PopularityRecommender}
    query_ids, item_ids = train.query_ids, list(train.corpus)
    con = connect_interactions(data_dir)
    user_of = dict(con.execute("SELECT query_id, CAST(user_id AS VARCHAR) FROM inter WHERE query_id IS NOT NULL")
                   .fetchall())
    con.close()
    users = sorted({user_of[q] for q in query_ids})
    fold_of = dict(zip(users, np.random.default_rng(seed).permutation(len(users)) % folds, strict=True))
    exclude = {q: set(h) for q, h in query_histories(data_dir, query_ids, ALL_HISTORY).items()}
    total = sum(weights.values())
    col = {item: j for j, item in enumerate(item_ids)}
    table = np.zeros((len(query_ids), len(item_ids)), dtype=np.float32)
    for k in range(folds):
        rows = [r for r, q in enumerate(query_ids) if fold_of[user_of[q]] == k]
        qids = [query_ids[r] for r in rows]
        split = replace(train, queries={q: train.queries[q] for q in qids}, exclude=exclude)
        stats = fold_stats(data_dir, {u for u in users if fold_of[u] == k}, item_ids)
        for part, weight in weights.items():
            if weight:
                run = recommenders[part](data_dir, stats=stats).rank(split, DEPTH)
                table[rows] += weight / total * zscored(run, qids, col, len(item_ids), DEPTH)
    return table


def cosine_spread(model, queries: list[str], corpus: list[str]) -> float:
    """Median over queries of the standard deviation of cosine over the model's top ``DEPTH`` items."""
    q = model.encode(queries, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    d = model.encode(corpus, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    top = -np.sort(-(q @ d.T), axis=1)[:, :DEPTH]
    return float(np.median(top.std(axis=1)))


def install(model_weight: float, weights: dict[str, float], folds: int, echo=print) -> dict:
    """Make :func:`embedtune.training.train` train with :class:`ResidualMNRL`; returns what it chose."""
    import embedtune.training as training
    from embedtune.data.beir import load_retrieval_split

    original = training.prepare
    chosen: dict = {"model_weight": model_weight, "weights": weights, "folds": folds}

    def prepare(config, echo=echo, world_size: int = 1):
        if world_size != 1 or config.mini_batch_size or len(config.data) != 1:
            raise SystemExit("recsys_residual: one process, one DATA_DIR, plain MNRL only")
        prepared = original(config, echo, world_size=world_size)
        data_dir = Path(config.data[0])
        train = load_retrieval_split(data_dir, "train")
        row_of = {train.queries[q]: r for r, q in enumerate(train.query_ids)}
        col_of = {doc.full_text: j for j, doc in enumerate(train.corpus.values())}
        table = residual_table(data_dir, train, weights, folds, seed=config.seed)
        spread = cosine_spread(prepared.model, list(row_of), list(col_of))
        gamma = config.scale * spread * (1 - model_weight) / model_weight
        chosen.update(cosine_spread=spread, gamma=gamma, queries=len(row_of), items=len(col_of),
                      table_nonzero=float((table != 0).mean()))
        echo(f"residual MNRL: γ = {config.scale:g} × {spread:.4f} × {1 - model_weight:g}/{model_weight:g} = {gamma:.3f}")
        for name, ds in prepared.train_datasets.items():
            text_columns = [c for c in ds.column_names if c not in ("anchor", "label")]
            log_q = ds["label"] if prepared.use_logq else [0.0] * len(ds)
            labels = [[lq, row_of[row["anchor"]], *(col_of[row[c]] for c in text_columns)]
                      for lq, row in zip(log_q, ds, strict=True)]
            if "label" in ds.column_names:
                ds = ds.remove_columns("label")
            prepared.train_datasets[name] = ds.add_column("label", labels)
        prepared.loss = ResidualMNRL(prepared.model, torch.from_numpy(table), gamma, config.scale, prepared.use_logq)
        return prepared

    training.prepare = prepare
    return chosen


def main() -> None:
    import argparse
    import json
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--model-weight", type=float, required=True, help="the tower's fusion weight w")
    parser.add_argument("--weights", required=True, help="the other parts' weights: PART=W,... (normalised to 1)")
    parser.add_argument("--folds", type=int, default=5, help="cross-fitting folds of users (default 5)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="any TrainConfig field (as embedtune train's flags)")
    args = parser.parse_args()
    weights = {k: float(v) for k, v in (item.split("=") for item in args.weights.split(","))}

    import embedtune

    chosen = install(args.model_weight, weights, args.folds)
    run = embedtune.train(data=[args.data], output=args.output, show_progress=False,
                          **dict(item.split("=", 1) for item in args.overrides))
    print(json.dumps({"output": str(run.output), "residual": chosen, "verdict": run.eval.verdict}, indent=2))


if __name__ == "__main__":
    main()
