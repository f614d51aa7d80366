"""SciFact benchmark: fine-tune on SciFact train, report test NDCG@10 / Recall@10 for base, BM25, tuned.

Holds out 10% of the train queries as dev (model selection); the 300 test queries are used only to
report. Also trains stock sentence-transformers (MNRL, batch 32, no-duplicates sampler) on the same
pairs in the same process to compare training throughput (pairs/s).

    python bench/scifact.py --data ../shared/data/scifact --out bench/out/scifact \
        --epochs 3 --lr 3e-5 --hard-negatives 1 --stock-epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _text(query: str) -> str:
    return " ".join(query.lower().split())


def make_split(src: Path, dst: Path, dev_share: float, seed: int) -> Path:
    from embedtune.data import read_corpus, read_qrels, read_queries, write_beir

    corpus = read_corpus(src / "corpus.jsonl")
    queries = read_queries(src / "queries.jsonl")
    train = read_qrels(src / "qrels" / "train.tsv", corpus, queries)
    test = read_qrels(src / "qrels" / "test.tsv", corpus, queries)
    qids = sorted(train)
    random.Random(seed).shuffle(qids)
    n_dev = round(len(qids) * dev_share)
    dev_ids = set(qids[:n_dev])
    # SciFact repeats some claim texts under different ids: a text held out for dev leaves training whole.
    dev_texts = {_text(queries[q]) for q in dev_ids}
    dev_ids |= {q for q in qids if _text(queries[q]) in dev_texts}
    qrels = {
        "train": {q: d for q, d in train.items() if q not in dev_ids},
        "dev": {q: d for q, d in train.items() if q in dev_ids},
        "test": test,
    }
    return write_beir(dst, corpus.values(), queries, qrels, manifest={"kind": "retrieval", "name": "scifact-bench"})


def stock_pairs_per_second(data_dir: Path, epochs: int, batch_size: int, lr: float, max_seq_length: int) -> dict:
    """Plain sentence-transformers on the same pairs: the peer for training throughput."""
    import tempfile

    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments, losses
    from sentence_transformers.base.sampler import BatchSamplers

    from embedtune.base_model import load_model
    from embedtune.data.pairs import load_training_pairs

    pairs = load_training_pairs(data_dir)
    model = load_model("all-MiniLM-L6-v2", max_seq_length=max_seq_length)
    ds = Dataset.from_dict({"anchor": [p.anchor for p in pairs], "positive": [p.positive for p in pairs]})
    with tempfile.TemporaryDirectory() as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, num_train_epochs=epochs, per_device_train_batch_size=batch_size, learning_rate=lr,
            warmup_steps=0.1, batch_sampler=BatchSamplers.NO_DUPLICATES, save_strategy="no", report_to="none",
            disable_tqdm=True, seed=42,
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=ds,
                                             loss=losses.MultipleNegativesRankingLoss(model))
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    return {"pairs": len(pairs), "epochs": epochs, "seconds": round(seconds, 1),
            "pairs_per_second": round(len(pairs) * epochs / seconds, 3)}


def throughput(args) -> None:
    """Training pairs/s of embedtune's trainer and of stock sentence-transformers, same pairs, same process."""
    from embedtune.config import TrainConfig
    from embedtune.data.pairs import load_training_pairs, write_pairs
    from embedtune.training import train

    args.out.mkdir(parents=True, exist_ok=True)
    split_dir = make_split(args.data, args.out / "data", args.dev_share, args.seed)
    pairs = load_training_pairs(split_dir)[: args.throughput_only]
    pairs_file = args.out / "pairs.jsonl"
    write_pairs(pairs_file, pairs)
    stock = stock_pairs_per_second(pairs_file, 1, args.batch_size, args.lr, args.max_seq_length)
    result = train(
        TrainConfig(data=[pairs_file], output=args.out / "throughput-model", epochs=1, batch_size=args.batch_size,
                    lr=args.lr, max_seq_length=args.max_seq_length, keep_checkpoints=False, seed=args.seed),
        show_progress=False,
    )
    summary = {"pairs": len(pairs), "stock": stock, "embedtune_pairs_per_second": result.pairs_per_second,
               "ratio": round(result.pairs_per_second / stock["pairs_per_second"], 3)}
    (args.out / "throughput.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


def dev_fusion(model: Path, data: Path) -> dict:
    """The model ⊕ BM25 fusion ``embedtune eval`` would choose on dev, with its dev NDCG@10 (test never read)."""
    from embedtune.data.beir import load_retrieval_split
    from embedtune.eval.evaluate import RUN_DEPTH
    from embedtune.eval.systems import BM25System, DenseSystem
    from embedtune.fusion import choose_fusion

    dev = load_retrieval_split(data, "dev")
    runs = {"model": DenseSystem("model", model).rank(dev, RUN_DEPTH), "bm25": BM25System().rank(dev, RUN_DEPTH)}
    spec = choose_fusion(runs, {q: dev.qrels[q] for q in dev.query_ids}, split="dev", data=str(data))
    return {"fusion": spec.describe(), **spec.dev_metric}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    parser.add_argument("--out", type=Path, default=Path("bench/out/scifact"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--hard-negatives", type=int, default=1)
    parser.add_argument("--hard-negatives-from", default="dense", choices=["dense", "bm25", "hybrid"])
    parser.add_argument("--dev-only", action="store_true",
                        help="for choosing a recipe: the final evaluation runs on dev, never test, and result.json "
                        "adds the dev NDCG@10 of the model fused with BM25 (fusion chosen on dev, as embedtune eval does)")
    parser.add_argument("--extra-pairs", type=Path, action="append", default=[], metavar="FILE",
                        help="more training pairs (pairs.jsonl, e.g. generated from the corpus by `embedtune site build`) "
                        "trained beside SciFact's train split, never in the same batch; repeatable")
    parser.add_argument("--multi-dataset-sampler", default="round_robin", choices=["round_robin", "proportional"],
                        help="with --extra-pairs: how batches of the datasets interleave (TrainConfig.multi_dataset_sampler)")
    parser.add_argument("--stock-epochs", type=int, default=1, help="0 skips the stock throughput run")
    parser.add_argument("--bm25-logits", type=float, default=None, metavar="W",
                        help="train the dense model as the dense part of a hybrid with dense weight W: MNRL logits "
                             "plus BM25's z-score (bench/fusion_aware.py)")
    parser.add_argument("--dev-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="any other TrainConfig field for an ablation, e.g. --set attention_dropout=0.1 "
                        "--set group_by_length=false --set precision=fp32; repeatable")
    parser.add_argument("--throughput-only", type=int, default=0, metavar="N",
                        help="only time embedtune vs stock training on N train pairs, 1 epoch, no hard negatives")
    args = parser.parse_args()
    if args.throughput_only:
        throughput(args)
        return

    from embedtune.config import TrainConfig
    from embedtune.training import train

    args.out.mkdir(parents=True, exist_ok=True)
    split_dir = make_split(args.data, args.out / "data", args.dev_share, args.seed)
    config = TrainConfig(
        data=[split_dir, *args.extra_pairs], output=args.out / "model", epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        max_seq_length=args.max_seq_length, hard_negatives=args.hard_negatives,
        hard_negatives_from=args.hard_negatives_from, seed=args.seed, keep_checkpoints=False,
        final_split="dev" if args.dev_only else "test", multi_dataset_sampler=args.multi_dataset_sampler,
        **dict(item.split("=", 1) for item in args.overrides),
    )
    fusion_aware = None
    if args.bm25_logits is not None:
        from fusion_aware import install

        fusion_aware = install(args.bm25_logits)
    start = time.perf_counter()
    result = train(config, show_progress=False)
    wall = time.perf_counter() - start
    summary = {
        "command": "python bench/scifact.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("data", "out", "extra_pairs", "overrides")
        ) + "".join(f" --extra-pairs {p}" for p in args.extra_pairs) + "".join(f" --set {o}" for o in args.overrides),
        "config": config.model_dump(mode="json"),
        "dev" if args.dev_only else "test": {name: {m: sr.metrics[m] for m in ("ndcg@10", "recall@10", "mrr@10", "map@100")}
                 for name, sr in result.eval.systems.items()},
        "comparisons": [c.to_dict() for c in result.eval.comparisons],
        "verdict": result.eval.verdict,
        "epoch_losses": result.epoch_losses,
        "dev_history": [{"epoch": h["epoch"], "ndcg@10": h.get("cosine_ndcg@10")} for h in result.dev_history],
        "embedtune_wall_seconds": round(wall, 1),
        "embedtune_pairs_per_second": result.pairs_per_second,
        "n_pairs": result.n_pairs,
    }
    if fusion_aware is not None:
        summary["bm25_logits"] = fusion_aware
    if args.dev_only:
        summary["dev_fusion"] = dev_fusion(result.output, split_dir)
    (args.out / "result.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    if args.stock_epochs:
        summary["stock"] = stock_pairs_per_second(split_dir, args.stock_epochs, args.batch_size, args.lr,
                                                  args.max_seq_length)
        (args.out / "result.json").write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary["stock"], indent=2))


if __name__ == "__main__":
    main()
