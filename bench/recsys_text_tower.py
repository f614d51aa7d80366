"""Benchmark: what the text tower's CPU time buys — template, positions per user, epochs, max_seq_length.

Short protocol, so that several variants fit in an afternoon on one thread: a seeded sample of
``--max-pairs`` (4,000) training pairs, ``max_seq_length`` 128 unless the variant says otherwise,
batch 32, lr 1e-4 (at batch 64 and lr 5e-5, 3,000 pairs left the loss at chance level),
logQ-corrected loss, and the **dev** split for the verdict (full ranking, history excluded; test is
never read). Variants run on MovieLens-100K or on the `make demo` shop (400 users, 200 items, seed
0). Each is the public commands (``embedtune recsys build``, ``embedtune train`` with a config that
makes its final evaluation run on dev); results are appended to ``OUT/results.jsonl`` and a variant
already there is skipped, so the script can be resumed::

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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recsys_movielens import EMBEDTUNE, ROOT, ensure_ml100k, run  # noqa: E402

from embedtune.eval.bootstrap import compare  # noqa: E402
from embedtune.recsys.config import RecsysConfig  # noqa: E402
from embedtune.recsys.generate import generate_shop, write_shop  # noqa: E402

ML_BASE = yaml.safe_load((ROOT / "bench" / "movielens.yaml").read_text())["recsys"]
PREFERENCE = "Preference: retrieve suitable items given user historical patterns."
# MovieLens profile lines (bench/movielens.yaml); the templates below only reorder them.
LINES = {
    "items": "- HistItems: {{ hist_items }}",
    "categories": "- HistCategories: {{ hist_categories }}",
    "intentions": "- HistIntentions: {{ hist_intentions }}",
}
ITEMS_BLOCK = "\n{%- if hist_items is not none %}\n- HistItems: {{ hist_items }}\n{%- endif %}"


def profile_template(order: tuple[str, ...]) -> str:
    return "\n".join(["User Profile:", *(LINES[name] for name in order), PREFERENCE])


def titles_first(template: str) -> str:
    """The shop template (embedtune's default) with its HistItems line moved right under the header."""
    assert ITEMS_BLOCK in template, "the default user template no longer has the HistItems block this bench moves"
    head, rest = template.replace(ITEMS_BLOCK, "").split("\n", 1)
    return head + ITEMS_BLOCK + "\n" + rest


ML_LAST = profile_template(("categories", "intentions", "items"))  # bench/movielens.yaml before this benchmark
ML_FIRST = profile_template(("items", "categories", "intentions"))
SHOP_LAST = RecsysConfig().user_template  # embedtune's default template before this benchmark
SHOP_FIRST = titles_first(SHOP_LAST)


@dataclass(frozen=True)
class Variant:
    dataset: str  # "movielens" (MovieLens-100K) or "shop" (the `make demo` shop: 400 users, 200 items, seed 0)
    user_template: str
    per_user: int
    hist_items: int | None = None
    train: dict = field(default_factory=dict)


VARIANTS: dict[str, Variant] = {
    "last10": Variant("movielens", ML_LAST, 40, 10),
    "first10": Variant("movielens", ML_FIRST, 40, 10),
    # 20 titles do not fit in 128 tokens: truncation cuts the older titles and the trailing lines
    "first20": Variant("movielens", ML_FIRST, 40, 20),
    "first20-s256": Variant("movielens", ML_FIRST, 40, 20, {"max_seq_length": 256}),
    # positions per user at the same number of pairs: the last 5 targets of every user vs a sample of the last 40
    "first10-u5": Variant("movielens", ML_FIRST, 5, 10),
    # one position per user (943 pairs), three epochs: about the same pairs seen as 3,000 × 1
    "first10-u1-e3": Variant("movielens", ML_FIRST, 1, 10, {"epochs": 3}),
    # epochs at equal CPU: half the pairs, twice the passes
    "first10-half-e2": Variant("movielens", ML_FIRST, 40, 10, {"epochs": 2, "max_pairs_factor": 0.5}),
    # the same run in bf16 autocast (AMX / AVX512-BF16 CPUs): the speed it buys, and that quality holds
    "first10-bf16": Variant("movielens", ML_FIRST, 40, 10, {"precision": "bf16"}),
    # the demo shop: `make demo`'s settings (3 positions per user, 2 epochs, 160 tokens), then changes
    "shop-last-s160": Variant("shop", SHOP_LAST, 3, None, {"epochs": 2, "max_seq_length": 160}),
    "shop-first-s128": Variant("shop", SHOP_FIRST, 3, None, {"epochs": 2, "max_seq_length": 128}),
    "shop-last-s128": Variant("shop", SHOP_LAST, 3, None, {"epochs": 2, "max_seq_length": 128}),
    "shop-first-u20-s128": Variant("shop", SHOP_FIRST, 20, None, {"epochs": 2, "max_seq_length": 128}),
    "shop-first-u20-e1-s128": Variant("shop", SHOP_FIRST, 20, None, {"epochs": 1, "max_seq_length": 128}),
}


def shop_files(out: Path) -> tuple[Path, Path]:
    raw = out / "raw-shop"
    if not (raw / "log.csv").is_file():
        paths = write_shop(generate_shop(n_users=400, n_items=200, seed=0), raw)
        return paths["log"], paths["items"]
    return raw / "log.csv", raw / "items.csv"


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
    parser.add_argument("--max-pairs", type=int, default=4000, help="0: every training pair")
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
        variant = VARIANTS[name]
        train = dict(variant.train)
        recsys = dict(ML_BASE) if variant.dataset == "movielens" else {}
        recsys.update({"user_template": variant.user_template, "max_train_per_user": variant.per_user})
        if variant.hist_items is not None:
            recsys["hist_items"] = variant.hist_items
        key = f"{variant.dataset}-u{variant.per_user}-h{variant.hist_items}-" + hashlib.sha256(
            variant.user_template.encode()).hexdigest()[:8]
        data = args.out / "data" / key
        config_path = args.out / "data" / f"{key}.yaml"
        log: list[dict] = []
        if not (data / "embedtune.json").is_file():
            config_path.parent.mkdir(parents=True, exist_ok=True)
            config_path.write_text(yaml.safe_dump({"recsys": recsys}))
            if variant.dataset == "movielens":
                inputs = ["--log", str(ml / "ml-100k.inter"), "--items", str(ml / "ml-100k.item"), "--category-sep", " "]
            else:
                shop_log, shop_items = shop_files(args.out)
                inputs = ["--log", str(shop_log), "--items", str(shop_items)]
            run([*EMBEDTUNE, "recsys", "build", *inputs, "--config", str(config_path), "-o", str(data),
                 "--overwrite", "-q"], log)
        model = args.out / "models" / name
        max_pairs = int(args.max_pairs * train.pop("max_pairs_factor", 1.0)) if args.max_pairs else None
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
            "variant": name, "dataset": variant.dataset, "per_user": variant.per_user, "train": train_config, "n_pairs": train_log["n_pairs"],
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
    firsts: dict[str, dict] = {}
    for r in rows:  # each variant against the first one given on the same dataset
        ref = firsts.setdefault(r.get("dataset", "movielens"), r)
        if ref is r:
            continue
        qids = sorted(ref["per_query_ndcg"])
        c = compare(r["variant"], ref["variant"], "ndcg@10",
                    np.array([r["per_query_ndcg"][q] for q in qids]), np.array([ref["per_query_ndcg"][q] for q in qids]))
        print(f"- {c.sentence()}")


if __name__ == "__main__":
    main()
