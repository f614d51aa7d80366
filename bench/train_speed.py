"""Training speed: stock sentence-transformers vs embedtune's defaults, same process, interleaved, same pairs.

Three workloads, each a fixed sample of ``--steps`` batches of training pairs:

- ``scifact``: SciFact train pairs (claims -> abstracts), max_seq_length 256;
- ``site``: the bundled example site's pairs (``embedtune site build`` with its visitor questions), 128;
- ``recsys``: the demo shop's user-profile -> item prompts (``embedtune recsys generate`` + ``recsys build``
  as in ``make demo-recsys``), 160, with the logQ-corrected loss that embedtune uses on recsys data.

The peer is stock ``SentenceTransformerTrainer``: fp32, the same loss, batch size, learning rate and
schedule, the no-duplicates batch sampler, no evaluator. embedtune runs ``embedtune.training.train`` with
its defaults (precision auto, length-grouped batches) on the same pairs, no evaluator either (a pairs
file has no dev split). Timed: the trainer's ``train()`` call alone, both sides (model loading, the
data doctor and saving are outside). Rounds alternate the order (stock first, then embedtune first).
Reported per workload: pairs/s of each (mean over rounds) and their ratio, the peak resident memory
above the pre-trial level during the
trial (model loading and training; sampled every 20 ms), and the padding share (the share of
token positions in the batches that were padding, from the attention masks).

    python bench/train_speed.py --out bench/out/train-speed --steps 8 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "src" / "embedtune" / "examples" / "site"
BATCH_SIZE = 32
LR = 5e-5


@dataclass
class Workload:
    name: str
    data: Path
    max_seq_length: int
    logq: bool = False


def _embedtune(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "embedtune", *args], check=True)


def prepare_workloads(out: Path, scifact: Path) -> list[Workload]:
    """Build the site and shop data (once) and return the three workloads."""
    site = out / "site-data"
    if not (site / "pairs.jsonl").is_file():
        _embedtune("site", "build", str(SITE), "-o", str(site), "--questions", str(SITE / "questions.jsonl"),
                   "--overwrite", "--quiet")
    shop = out / "shop"
    if not (shop / "data" / "qrels" / "train.tsv").is_file():
        _embedtune("recsys", "generate", "-o", str(shop / "raw"), "--users", "400", "--items", "200", "--seed", "0")
        _embedtune("recsys", "build", "--log", str(shop / "raw" / "log.csv"), "--items", str(shop / "raw" / "items.csv"),
                   "-o", str(shop / "data"), "--max-train-per-user", "3", "--overwrite", "--quiet")
    return [
        Workload("scifact", scifact, 256),
        Workload("site", site, 128),
        Workload("recsys", shop / "data", 160, logq=True),
    ]


def sample_pairs(workload: Workload, n: int, out: Path) -> Path:
    """A seeded sample of ``n`` training pairs of the workload, written as a pairs file."""
    from embedtune.data.pairs import load_training_pairs, write_pairs

    pairs = load_training_pairs(workload.data)
    random.Random(0).shuffle(pairs)
    path = out / f"{workload.name}-pairs.jsonl"
    write_pairs(path, pairs[:n])
    return path


class PeakRSS:
    """Peak resident set size of this process above its level at start, sampled in a thread.

    Freed memory is handed back to the system first (garbage collection, ``malloc_trim``), so that the
    start level is the live heap and what an earlier trial left in the allocator does not hide growth.
    """

    def __init__(self, interval: float = 0.02) -> None:
        import ctypes
        import gc

        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        self.interval = interval
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def mib(self) -> float:
        return round((self.peak - self.base) / 2**20, 1)


def run_stock(workload: Workload, pairs_file: Path) -> dict:
    """Plain sentence-transformers: fp32, MNRL (logQ-corrected on recsys, as embedtune), no-duplicates sampler."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer import losses

    from embedtune.base_model import load_model
    from embedtune.data.pairs import load_training_pairs
    from embedtune.losses import LogQCorrectedMNRL, log_sampling_probabilities
    from embedtune.training.trainer import CountingDataCollator

    pairs = load_training_pairs(pairs_file)
    with PeakRSS() as memory, tempfile.TemporaryDirectory() as tmp:
        model = load_model("all-MiniLM-L6-v2", max_seq_length=workload.max_seq_length)
        columns = {"anchor": [p.anchor for p in pairs], "positive": [p.positive for p in pairs]}
        if workload.logq:
            columns["label"] = log_sampling_probabilities(columns["positive"])
        loss = LogQCorrectedMNRL(model) if workload.logq else losses.MultipleNegativesRankingLoss(model)
        collator = CountingDataCollator(preprocess_fn=model.preprocess)
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, num_train_epochs=1, per_device_train_batch_size=BATCH_SIZE, learning_rate=LR,
            warmup_steps=0.1, weight_decay=0.01, batch_sampler=BatchSamplers.NO_DUPLICATES, save_strategy="no",
            report_to="none", disable_tqdm=True, seed=42, data_seed=42, logging_steps=10,
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_dict(columns),
                                             loss=loss, data_collator=collator)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "pairs": collator.rows, "pairs_per_second": round(collator.rows / seconds, 3),
            "peak_mib": memory.mib, "padding_share": round(collator.padding_share, 4), "precision": "fp32",
            "group_by_length": False}


def run_embedtune(workload: Workload, pairs_file: Path, out: Path) -> dict:
    """``embedtune.training.train`` with its defaults on the same pairs (output saved, timing = trainer.train())."""
    from embedtune.config import TrainConfig
    from embedtune.training import train

    config = TrainConfig(
        data=[pairs_file], output=out / f"{workload.name}-model", epochs=1, batch_size=BATCH_SIZE, lr=LR,
        max_seq_length=workload.max_seq_length, logq_correction="on" if workload.logq else "auto",
        keep_checkpoints=False, baselines=False,
    )
    with PeakRSS() as memory:
        train(config, show_progress=False, echo=lambda *_: None)
    log = json.loads((out / f"{workload.name}-model" / "train_log.json").read_text())
    return {"seconds": log["train_seconds"], "pairs": log["pairs_trained"], "pairs_per_second": log["pairs_per_second"],
            "peak_mib": memory.mib, "padding_share": log["padding_share"], "precision": log["precision"]["name"],
            "group_by_length": log["group_by_length"]}


def warm_up() -> None:
    """One fp32 and one bf16 forward/backward, so that one-time kernel setup is not timed in the first trial."""
    import torch

    from embedtune.base_model import load_model

    model = load_model("all-MiniLM-L6-v2", max_seq_length=64)
    features = model.tokenize(["a warm-up sentence for the kernels"] * 8)
    for bf16 in (False, True):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            model(dict(features))["sentence_embedding"].sum().backward()


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def summarise(trials: list[dict]) -> list[dict]:
    rows = []
    for name in dict.fromkeys(t["workload"] for t in trials):
        stock = [t for t in trials if t["workload"] == name and t["system"] == "stock"]
        ours = [t for t in trials if t["workload"] == name and t["system"] == "embedtune"]
        s, o = _mean([t["pairs_per_second"] for t in stock]), _mean([t["pairs_per_second"] for t in ours])
        rows.append({
            "workload": name, "pairs": stock[0]["pairs"], "max_seq_length": stock[0]["max_seq_length"],
            "stock_pairs_per_second": round(s, 2), "embedtune_pairs_per_second": round(o, 2), "ratio": round(o / s, 2),
            "per_round_ratios": [round(a["pairs_per_second"] / b["pairs_per_second"], 2)
                                 for a, b in zip(ours, stock, strict=True)],
            "stock_peak_mib": max(t["peak_mib"] for t in stock), "embedtune_peak_mib": max(t["peak_mib"] for t in ours),
            "stock_padding_share": stock[0]["padding_share"], "embedtune_padding_share": ours[0]["padding_share"],
            "embedtune_precision": ours[0]["precision"],
        })
    return rows


def to_markdown(rows: list[dict]) -> str:
    lines = [
        "| workload | pairs | seq | stock pairs/s | embedtune pairs/s | ratio (per round) | peak MiB stock / embedtune "
        "| padding stock / embedtune |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workload']} | {r['pairs']} | {r['max_seq_length']} | {r['stock_pairs_per_second']} | "
            f"{r['embedtune_pairs_per_second']} ({r['embedtune_precision']}) | **{r['ratio']}×** "
            f"({', '.join(str(x) for x in r['per_round_ratios'])}) | {r['stock_peak_mib']:.0f} / "
            f"{r['embedtune_peak_mib']:.0f} | {r['stock_padding_share']:.1%} / {r['embedtune_padding_share']:.1%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench/out/train-speed"))
    parser.add_argument("--scifact", type=Path, default=Path("/work/shared/data/scifact"))
    parser.add_argument("--steps", type=int, default=8, help="batches of 32 pairs per trial")
    parser.add_argument("--rounds", type=int, default=2, help="trials per system and workload, order alternating")
    parser.add_argument("--workloads", default="scifact,site,recsys")
    args = parser.parse_args()

    import torch

    args.out.mkdir(parents=True, exist_ok=True)
    wanted = args.workloads.split(",")
    workloads = [w for w in prepare_workloads(args.out, args.scifact) if w.name in wanted]
    files = {w.name: sample_pairs(w, args.steps * BATCH_SIZE, args.out) for w in workloads}
    warm_up()
    trials: list[dict] = []
    for round_index in range(args.rounds):
        for workload in workloads:
            order = ("stock", "embedtune") if round_index % 2 == 0 else ("embedtune", "stock")
            for system in order:
                result = (run_stock(workload, files[workload.name]) if system == "stock"
                          else run_embedtune(workload, files[workload.name], args.out))
                trial = {"round": round_index, "workload": workload.name, "system": system,
                         "max_seq_length": workload.max_seq_length, **result}
                trials.append(trial)
                print(json.dumps(trial), flush=True)
    rows = summarise(trials)
    summary = {
        "command": "python bench/train_speed.py " + " ".join(sys.argv[1:]),
        "machine": {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                    "os_cpus": os.cpu_count()},
        "batch_size": BATCH_SIZE, "steps": args.steps, "rounds": args.rounds, "rows": rows, "trials": trials,
    }
    (args.out / "train_speed.json").write_text(json.dumps(summary, indent=2))
    print(to_markdown(rows))


if __name__ == "__main__":
    main()
