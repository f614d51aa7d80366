"""SciFact corpus-only: distil the training-free hybrid (base ⊕ BM25) into the dense model (issue 13's last lever).

The corpus-only fine-tune moves the dense model toward lexical matching and adds nothing once fused with BM25
(docs/benchmarks.md, "Hybrid search" (3)). The teacher here is the hybrid itself: for every generated training
query of a site DATA_DIR (``embedtune site build CORPUS``, default generators), base ⊕ BM25 at the documented
default fusion (z-score 0.7 / 0.3, each part's top 100) scores the query's positive and its fused top 30; the
student (the base model) learns the teacher's score margins between the positive and ``--negatives`` sampled
candidates (MarginMSE, Hofstätter et al. 2020; the GPL recipe with a hybrid instead of a cross-encoder as
teacher). Teacher margins are in fused z-score units and are multiplied by ``--margin-scale`` to meet cosine
margins. The model is saved like ``embedtune train``'s (stock ``SentenceTransformer(path)``), then judged with
``bench/hybrid_dev.py`` on the real dev claims and, past the gate, once on the test claims with ``embedtune eval``.

    /work/heavy .venv/bin/python bench/site_distill.py --data bench/out/sd/data --out bench/out/sd/model-distil
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a site DATA_DIR with a train split of generated queries")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--negatives", type=int, default=2, help="candidates per query the margins are taken against")
    parser.add_argument("--pool", type=int, default=30, help="negatives are sampled from the teacher's top POOL")
    parser.add_argument("--margin-scale", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MarginMSELoss

    from embedtune.base_model import bundled_model_dir, load_model
    from embedtune.data.beir import load_retrieval_split
    from embedtune.eval.systems import BM25System, DenseSystem
    from embedtune.fusion import DEFAULT_FUSION, fuse_runs

    started = time.time()
    train = load_retrieval_split(args.data, "train")
    base = str(bundled_model_dir())
    depth = 100
    dense = DenseSystem("model", base, max_seq_length=args.max_seq_length).rank(train, depth)
    lexical = BM25System().rank(train, depth)
    teacher = fuse_runs(DEFAULT_FUSION, {"model": dense, "bm25": lexical}, k=depth)  # parts: model, bm25
    rng = random.Random(args.seed)
    rows: dict[str, list] = {"query": [], "positive": [], "negative": [], "label": []}
    skipped = 0
    for q in train.query_ids:
        scores = dict(teacher.get(q, []))
        positives = train.relevant(q)
        pos = next(iter(positives))
        if pos not in scores:  # the teacher does not list the positive: no margin to learn from
            skipped += 1
            continue
        pool = [d for d, _ in teacher[q][: args.pool] if d not in positives]
        for neg in rng.sample(pool, min(args.negatives, len(pool))):
            rows["query"].append(train.queries[q])
            rows["positive"].append(train.corpus[pos].full_text)
            rows["negative"].append(train.corpus[neg].full_text)
            rows["label"].append(args.margin_scale * (scores[pos] - scores[neg]))
    print(f"{len(rows['query'])} (query, positive, negative) rows from {len(train.query_ids)} queries; {skipped} "
          f"skipped (positive outside the teacher's top {depth}); mean scaled margin "
          f"{sum(rows['label']) / len(rows['label']):.3f}", flush=True)

    model = load_model(base, max_seq_length=args.max_seq_length)
    training = SentenceTransformerTrainingArguments(
        output_dir=str(args.out / "checkpoints"), num_train_epochs=args.epochs, per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr, warmup_ratio=0.1, seed=args.seed, save_strategy="no", logging_steps=10, report_to="none",
        use_cpu=True)
    trainer = SentenceTransformerTrainer(model=model, args=training, train_dataset=Dataset.from_dict(rows),
                                         loss=MarginMSELoss(model))
    trainer.train()
    model.save(str(args.out))
    (args.out / "distil.json").write_text(json.dumps({
        "data": str(args.data), "rows": len(rows["query"]), "skipped": skipped, **{k: v for k, v in vars(args).items()
                                                                                 if k not in ("data", "out")},
        "teacher": "base ⊕ BM25, " + DEFAULT_FUSION.describe(), "seconds": round(time.time() - started)}, indent=1) + "\n")
    print(f"saved {args.out} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
