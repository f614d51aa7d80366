"""Benchmark: what serving recommendations costs at scale — co-occurrence statistics for 1M users, and
one user's `recommend` latency against a 100,000-item index. Not a test; prints JSON lines.

    /work/heavy .venv/bin/python bench/recsys_serving_scale.py stats --users 100000 1000000
    /work/heavy .venv/bin/python bench/recsys_serving_scale.py latency --items 100000 --users 20000

``stats``: a synthetic Tmall-style log (:mod:`embedtune.recsys.generate`: 100,000 items in 20
categories, Zipf popularity, ~20 clicks + funnel events per user) written as an ``interactions.parquet``
whose last two events per user are held out (not ``train``), then :meth:`ItemStats.from_data_dir`
and a ``corpus.jsonl`` of its items (category, shop, brand: the fields ``recsys build`` writes), then
:meth:`ItemStats.from_data_dir` timed (co-occurrence, transitions, attributes and popularity), both CSRs
sized (data + indices + indptr bytes), saved and loaded again, and one history scored by each of
co-occurrence, transitions and attributes. Each size runs in a
fresh process, so the peak RSS is that size's own.

``latency``: a real DATA_DIR (``embedtune recsys build``) of that log, an index of its items with
**random** unit vectors (encoding 100,000 items would take an hour on this CPU and does not change
the search cost) built as ``index build`` builds it (HNSW from 50,000 rows, recsys statistics
attached), then :meth:`Recommender.from_index` with the real MiniLM encoder (torch) timing
``rank(user_id=…)`` for known users, per mode: ``text`` = profile (DuckDB) + one encode + index search;
``cooccurrence`` = profile + co-occurrence scoring of 100,000 items; ``hybrid`` = profile + the
parts' top 100 (text, co-occurrence, transitions, popularity, attributes) + ``fuse_runs`` (no fusion.json here: the documented
default weights; the cost does not depend on them; since statistics schema 3 a fifth part, attributes). ``served_as`` counts the modes that answered (a
user whose history has no co-occurrence statistics is answered by the text tower). ``cold_slot_ms``: ``hybrid``
again, user by user in turn with the same fusion plus a cold slot (stop 33: a second index search with the
centred profile vector), filled on every request.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def write_interactions(n_users: int, n_items: int, folder: Path, seed: int = 0) -> tuple[list[str], int]:
    """Generated log → ``folder/interactions.parquet`` (user_id, item_id, pos, split); returns item ids, rows."""
    import duckdb

    from embedtune.recsys.generate import generate_shop

    shop = generate_shop(n_users=n_users, n_items=n_items, n_categories=20, events_per_user=20.0, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.register("log", shop.log)
    con.execute(
        f"""COPY (
            SELECT CAST(user_id AS VARCHAR) AS user_id, CAST(item_id AS VARCHAR) AS item_id, pos,
                   CASE WHEN pos < n - 2 THEN 'train' ELSE 'test' END AS split
            FROM (SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY time_stamp, action_type) - 1 AS pos,
                         count(*) OVER (PARTITION BY user_id) AS n FROM log)
        ) TO '{folder / "interactions.parquet"}' (FORMAT parquet)"""
    )
    rows = len(shop.log)
    con.close()
    # the catalog's categorical fields, named as `recsys build` names them: the attributes part reads them
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for item in shop.items.itertuples():
            f.write(json.dumps({"_id": str(item.item_id), "title": "", "text": item.title, "category": item.cat_id,
                                "shop": item.seller_id, "brand": item.brand_id, "item_title": item.title,
                                "price": f"{item.price:.2f}"}) + "\n")
    return [str(i) for i in shop.items.item_id], rows


def stats_one(n_users: int, n_items: int, out: Path) -> dict:
    from embedtune.recsys.stats import ItemStats

    t0 = time.perf_counter()
    item_ids, rows = write_interactions(n_users, n_items, out)
    t_gen = time.perf_counter() - t0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t1 = time.perf_counter()
    stats = ItemStats.from_data_dir(out, item_ids)
    t_build = time.perf_counter() - t1
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    sim = stats.similarity
    t2 = time.perf_counter()
    stats.save(out / "model")
    t_save = time.perf_counter() - t2
    t3 = time.perf_counter()
    ItemStats.load(out / "model")
    t_load = time.perf_counter() - t3
    rng = np.random.default_rng(0)
    histories = [[str(i) for i in rng.integers(1, n_items + 1, size=20)] for _ in range(200)]
    t4 = time.perf_counter()
    for h in histories:
        stats.cooccurrence_scores([h])
    t_score = (time.perf_counter() - t4) / len(histories)
    t5 = time.perf_counter()
    for h in histories:
        stats.transition_scores([h])
    t_transition = (time.perf_counter() - t5) / len(histories)
    t6 = time.perf_counter()
    for h in histories:
        stats.attribute_scores([h])
    t_attributes = (time.perf_counter() - t6) / len(histories)
    trans = stats.transitions
    return {
        "users": n_users, "items": n_items, "log_rows": rows, "train_events": stats.info["train_events"],
        "generate_s": round(t_gen, 1), "build_s": round(t_build, 1), "similarity_nnz": int(sim.nnz),
        "nnz_per_item": round(sim.nnz / n_items, 1),
        "csr_mib": round((sim.data.nbytes + sim.indices.nbytes + sim.indptr.nbytes) / 2**20, 1),
        "npz_mib": round((out / "model" / "recsys" / "cooccurrence.npz").stat().st_size / 2**20, 1),
        "transitions_nnz": int(trans.nnz),
        "transitions_csr_mib": round((trans.data.nbytes + trans.indices.nbytes + trans.indptr.nbytes) / 2**20, 1),
        "save_s": round(t_save, 2), "load_s": round(t_load, 2), "score_one_history_ms": round(t_score * 1000, 2),
        "transitions_one_history_ms": round(t_transition * 1000, 2),
        "attribute_fields": list(stats.attributes.fields), "attributes_one_history_ms": round(t_attributes * 1000, 2),
        "attributes_json_mib": round((out / "model" / "recsys" / "attributes.json").stat().st_size / 2**20, 1),
        "peak_rss_gib_before_build": round(rss_before, 2), "peak_rss_gib": round(rss_after, 2),
    }


def latency(n_users: int, n_items: int, out: Path, n_requests: int) -> dict:
    from embedtune.data.beir import read_corpus
    from embedtune.encoders import TorchEncoder
    from embedtune.index import VectorIndex
    from embedtune.recsys.build import build_recsys
    from embedtune.recsys.config import RecsysConfig
    from embedtune.recsys.generate import generate_shop, write_shop
    from embedtune.recsys.recommend import MODES, Recommender
    from embedtune.recsys.stats import recsys_attachment

    shop = generate_shop(n_users=n_users, n_items=n_items, n_categories=20, events_per_user=20.0, seed=0)
    paths = write_shop(shop, out / "raw", fmt="parquet")
    t0 = time.perf_counter()
    data = build_recsys(paths["log"], paths["items"], out / "data", config=RecsysConfig(max_train_per_user=1)).out_dir
    t_data = time.perf_counter() - t0
    docs = list(read_corpus(data / "corpus.jsonl").values())
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(docs), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    t1 = time.perf_counter()
    index = VectorIndex.from_documents(docs, vectors, model="all-MiniLM-L6-v2", kind="recsys", data_dir=str(data))
    index.attachments["recsys"] = recsys_attachment(data, "all-MiniLM-L6-v2")
    index.save(out / "index")
    t_index = time.perf_counter() - t1
    encoder = TorchEncoder("all-MiniLM-L6-v2")
    t2 = time.perf_counter()
    rec = Recommender.from_index(out / "index", encoder=encoder)
    t_open = time.perf_counter() - t2
    users = [str(u) for u in rng.choice(shop.log.user_id.unique(), size=n_requests + 3, replace=False)]
    result = {"users": n_users, "items": len(docs), "recsys_build_s": round(t_data, 1),
              "index_build_s": round(t_index, 1), "ann": index.manifest.ann is not None,
              "open_recommender_s": round(t_open, 1), "latency_ms": {}}
    for mode in MODES:
        for u in users[:3]:  # warm-up: first encode, first DuckDB queries
            rec.rank(user_id=u, k=10, mode=mode)
        times, served_as = [], {}
        for u in users[3:]:
            t = time.perf_counter()
            ranking = rec.rank(user_id=u, k=10, mode=mode)
            times.append((time.perf_counter() - t) * 1000)
            served_as[ranking.mode] = served_as.get(ranking.mode, 0) + 1
        result["latency_ms"][mode] = {"p50": round(float(np.percentile(times, 50)), 1),
                                      "p95": round(float(np.percentile(times, 95)), 1), "served_as": served_as}
    # the cold slot (stop 33): a fusion.json with one, in the index's recsys/ (where `index build` copies it), opened
    # beside the plain recommender; both timed user by user in turn, so the ratio is within one run. The slot is
    # filled on every request (tau null: always) — its worst case.
    from embedtune.fusion import ColdSlot
    from embedtune.recsys.recommend import default_hybrid_fusion

    mean = np.mean([rec._encode_query([rec.profile(user_id=u)])[0] for u in users[3:]], axis=0)
    spec = default_hybrid_fusion().model_copy(update={"slot": ColdSlot(source="model", mean=mean.tolist(), rank=5)})
    spec.save(out / "index" / "recsys" / "fusion.json")
    with_slot = Recommender.from_index(out / "index", encoder=encoder)
    (out / "index" / "recsys" / "fusion.json").unlink()
    result["cold_items"] = len(with_slot._cold or ())
    paired: dict[str, list[float]] = {"hybrid": [], "hybrid_cold_slot": []}
    for u in users[:3]:
        with_slot.rank(user_id=u, k=10, mode="hybrid")
    moved = 0
    for u in users[3:]:
        for name, r in (("hybrid", rec), ("hybrid_cold_slot", with_slot)):
            t = time.perf_counter()
            ranking = r.rank(user_id=u, k=10, mode="hybrid")
            paired[name].append((time.perf_counter() - t) * 1000)
            if name == "hybrid_cold_slot":
                moved += any(item.item_id in with_slot._cold for item in ranking.items)
    result["cold_slot_ms"] = {name: {"p50": round(float(np.percentile(v, 50)), 1),
                                     "p95": round(float(np.percentile(v, 95)), 1)} for name, v in paired.items()}
    result["cold_slot_ratio_p50"] = round(float(np.percentile(paired["hybrid_cold_slot"], 50)
                                                / np.percentile(paired["hybrid"], 50)), 3)
    result["cold_slot_lists_with_a_cold_item"] = moved
    prompt = rec.profile(user_id=users[0])
    t = time.perf_counter()
    for _ in range(20):
        rec.profile(user_id=users[0])
    result["profile_ms"] = round((time.perf_counter() - t) / 20 * 1000, 1)
    t = time.perf_counter()
    for _ in range(20):
        rec._encode_query([prompt])
    result["encode_ms"] = round((time.perf_counter() - t) / 20 * 1000, 1)
    result["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["stats", "latency", "stats-one"])
    parser.add_argument("--users", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "recsys_serving_scale")
    args = parser.parse_args()
    if args.what == "stats":
        for n in args.users:  # one process per size: its own peak RSS
            subprocess.run([sys.executable, __file__, "stats-one", "--users", str(n), "--items", str(args.items),
                            "--out", str(args.out / f"stats-{n}")], check=True)
    elif args.what == "stats-one":
        print(json.dumps(stats_one(args.users[0], args.items, args.out)), flush=True)
    else:
        print(json.dumps(latency(args.users[0], args.items, args.out / "latency", args.requests)), flush=True)


if __name__ == "__main__":
    main()
