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

DEPTH = 100
ALL_HISTORY = 10**9


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
    """:func:`fusion_aware.install_bias` with the parts' cross-fitted table (the tower's fusion weight
    ``model_weight``)."""
    from fusion_aware import install_bias

    from embedtune.data.beir import load_retrieval_split

    def build(prepared, config):
        if len(config.data) != 1:
            raise SystemExit("recsys_residual: one DATA_DIR")
        data_dir = Path(config.data[0])
        train = load_retrieval_split(data_dir, "train")
        row_of = {train.queries[q]: r for r, q in enumerate(train.query_ids)}
        col_of = {doc.full_text: j for j, doc in enumerate(train.corpus.values())}
        table = residual_table(data_dir, train, weights, folds, seed=config.seed)
        return (table, row_of, col_of, cosine_spread(prepared.model, list(row_of), list(col_of)),
                {"parts": weights, "folds": folds, "queries": len(row_of), "items": len(col_of),
                 "table_nonzero": float((table != 0).mean())})

    return install_bias(model_weight, build, echo, name="residual MNRL")


def main() -> None:
    import os

    from fusion_aware import train_and_report, training_parser

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = training_parser(__doc__)
    parser.add_argument("--model-weight", type=float, required=True, help="the tower's fusion weight w")
    parser.add_argument("--weights", required=True, help="the other parts' weights: PART=W,... (normalised to 1)")
    parser.add_argument("--folds", type=int, default=5, help="cross-fitting folds of users (default 5)")
    args = parser.parse_args()
    weights = {k: float(v) for k, v in (item.split("=") for item in args.weights.split(","))}
    train_and_report(args, install(args.model_weight, weights, args.folds), "residual")


if __name__ == "__main__":
    main()
