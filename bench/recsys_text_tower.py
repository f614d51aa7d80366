"""Benchmark: what the text tower's CPU time buys on MovieLens-100K — template, positions per user, epochs.

Short protocol, so that several variants fit in an afternoon on one thread: a seeded sample of
``--max-pairs`` (4,000) training pairs, ``max_seq_length`` 128 unless the variant says otherwise, batch
32, lr 1e-4 (at batch 64 and lr 5e-5, 3,000 pairs left the loss at chance level), logQ-corrected loss, and the **dev** split for the verdict (full ranking, history excluded;
test is never read). Each variant is the public commands (``embedtune recsys build``, ``embedtune
train`` with a config that makes its final evaluation run on dev); results are appended to
``OUT/results.jsonl`` and a variant already there is skipped, so the script can be resumed::

    .venv/bin/pip download --no-deps recbole==1.2.1 -d bench/data/
    /work/heavy .venv/bin/python bench/recsys_text_tower.py --variants last10,first10

Prints one Markdown row per variant (dev NDCG@10, Recall@10/50, training seconds, tokens per
profile) and the paired bootstrap of each variant against the first one given.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recsys_movielens import EMBEDTUNE, ROOT, ensure_ml100k, run  # noqa: E402

from embedtune.eval.bootstrap import compare  # noqa: E402

BASE = yaml.safe_load((ROOT / "bench" / "movielens.yaml").read_text())["recsys"]
PREFERENCE = "Preference: retrieve suitable items given user historical patterns."
# Profile lines; the templates below only reorder or drop them.
LINES = {
    "items": "- HistItems: {{ hist_items }}",
    "categories": "- HistCategories: {{ hist_categories }}",
    "intentions": "- HistIntentions: {{ hist_intentions }}",
}


def profile_template(order: tuple[str, ...]) -> str:
    return "\n".join(["User Profile:", *(LINES[name] for name in order), PREFERENCE])


# name → (recsys build settings, max_train_per_user, train settings)
VARIANTS: dict[str, tuple[dict, int, dict]] = {
    # bench/movielens.yaml before this benchmark: titles last
    "last10": ({"hist_items": 10, "user_template": profile_template(("categories", "intentions", "items"))}, 40, {}),
    "first10": ({"hist_items": 10, "user_template": profile_template(("items", "categories", "intentions"))}, 40, {}),
    # 20 titles do not fit in 128 tokens: truncation cuts the older titles and the trailing lines
    "first20": ({"hist_items": 20, "user_template": profile_template(("items", "categories", "intentions"))}, 40, {}),
    "first20-s256": (
        {"hist_items": 20, "user_template": profile_template(("items", "categories", "intentions"))}, 40,
        {"max_seq_length": 256},
    ),
    # positions per user at the same number of pairs: the last 5 targets of every user vs a sample of the last 40
    "first10-u5": ({"hist_items": 10, "user_template": profile_template(("items", "categories", "intentions"))}, 5, {}),
    # one position per user (943 pairs), three epochs: about the same pairs seen as 3,000 × 1
    "first10-u1-e3": (
        {"hist_items": 10, "user_template": profile_template(("items", "categories", "intentions"))}, 1,
        {"epochs": 3},
    ),
    # epochs at equal CPU: half the pairs, twice the passes
    "first10-half-e2": (
        {"hist_items": 10, "user_template": profile_template(("items", "categories", "intentions"))}, 40,
        {"epochs": 2, "max_pairs_factor": 0.5},
    ),
}


def token_stats(data: Path, model: str = "all-MiniLM-L6-v2") -> dict:
    from transformers import AutoTokenizer

    from embedtune.base_model import resolve_model_path

    tok = AutoTokenizer.from_pretrained(str(resolve_model_path(model)))
    texts = [json.loads(line)["text"] for line in (data / "queries.jsonl").open(encoding="utf-8")]
    n = np.array([len(ids) for ids in tok(texts)["input_ids"]])
    return {"profile_tokens_mean": round(float(n.mean()), 1), "profile_tokens_p90": float(np.percentile(n, 90)),
            "over_128": round(float((n > 128).mean()), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=ROOT / "bench" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "text_tower")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--max-pairs", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    ml = ensure_ml100k(args.data_root)
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.jsonl"
    done = {}
    if results_path.is_file():
        for line in results_path.read_text().splitlines():
            row = json.loads(line)
            done[row["variant"]] = row
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    for name in names:
        if name not in VARIANTS:
            sys.exit(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
    for name in names:
        if name in done:
            continue
        recsys, per_user, train = VARIANTS[name]
        train = dict(train)
        key = f"u{per_user}-h{recsys['hist_items']}-" + hashlib.sha256(recsys["user_template"].encode()).hexdigest()[:8]
        data = args.out / "data" / key
        config_path = args.out / "data" / f"{key}.yaml"
        log: list[dict] = []
        if not (data / "embedtune.json").is_file():
            config_path.parent.mkdir(parents=True, exist_ok=True)
            config_path.write_text(yaml.safe_dump({"recsys": {**BASE, **recsys, "max_train_per_user": per_user}}))
            run([*EMBEDTUNE, "recsys", "build", "--log", str(ml / "ml-100k.inter"), "--items", str(ml / "ml-100k.item"),
                 "--config", str(config_path), "-o", str(data), "--category-sep", " ", "--overwrite", "-q"], log)
        model = args.out / "models" / name
        max_pairs = int(args.max_pairs * train.pop("max_pairs_factor", 1.0))
        train_config = {
            "epochs": 1, "batch_size": args.batch_size, "lr": args.lr, "max_seq_length": 128, "seed": args.seed,
            "max_pairs": max_pairs, "final_split": "dev", "baselines": False, "keep": "last",
            "keep_checkpoints": False, **train,
        }
        train_yaml = args.out / "models" / f"{name}.train.yaml"
        train_yaml.parent.mkdir(parents=True, exist_ok=True)
        train_yaml.write_text(yaml.safe_dump(train_config))
        run([*EMBEDTUNE, "train", str(train_yaml), "--data", str(data), "--output", str(model), "--force", "-q"], log)
        train_log = json.loads((model / "train_log.json").read_text())
        result = json.loads((model / "eval.json").read_text())
        per_query = {}
        for line in (model / "per_query.jsonl").open(encoding="utf-8"):
            row = json.loads(line)
            per_query[row["query_id"]] = row["metrics"]["model"]["ndcg@10"]
        row = {
            "variant": name, "per_user": per_user, "train": train_config, "n_pairs": train_log["n_pairs"],
            "train_seconds": train_log["train_seconds"], "epoch_losses": train_log["epoch_losses"],
            "chance_loss": train_log["chance_loss"], "learned_nothing": train_log["learned_nothing"],
            "dev": result["systems"]["model"], "per_query_ndcg": per_query, **token_stats(data), "commands": log,
        }
        with results_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        done[name] = row

    rows = [done[n] for n in names if n in done]
    print("| variant | pairs × epochs | train s | tokens/profile (p90) | dev NDCG@10 | dev Recall@10 | dev Recall@50 | loss (chance) |")
    print("|---|---|---:|---|---:|---:|---:|---|")
    for r in rows:
        d = r["dev"]
        print(f"| {r['variant']} | {r['n_pairs']} × {r['train']['epochs']} | {r['train_seconds']:.0f} | "
              f"{r['profile_tokens_mean']} ({r['profile_tokens_p90']:.0f}) | {d['ndcg@10']:.4f} | {d['recall@10']:.4f} | "
              f"{d['recall@50']:.4f} | {r['epoch_losses'][-1]:.3f} ({r['chance_loss']:.3f}) |")
    if len(rows) > 1:
        ref = rows[0]
        qids = sorted(ref["per_query_ndcg"])
        for r in rows[1:]:
            c = compare(r["variant"], ref["variant"], "ndcg@10",
                        np.array([r["per_query_ndcg"][q] for q in qids]), np.array([ref["per_query_ndcg"][q] for q in qids]))
            print(f"- {c.sentence()}")


if __name__ == "__main__":
    main()
