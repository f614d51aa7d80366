"""torchrun data parallel on CPU (gloo, 2 processes): in-batch negatives gathered across processes give the
same loss per step as one process with the whole batch, and the same model, evaluation and card.

The runs use the logQ-corrected loss (embedtune's own gather: candidates and their log q); MNRL and
CachedMNRL gather with sentence-transformers' ``gather_across_devices``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from embedtune.config import TrainConfig
from embedtune.data import Document, write_beir
from embedtune.training import train
from embedtune.training.distributed import torchrun_command, without_option

# Training questions 9-11 point at the documents of questions 0, 1 and 3: some positives are more frequent
# than others, so the logQ correction is not uniform and the gathered log q matter.
ANSWER = {9: 0, 10: 1, 11: 3}


def _data(folder, qa):
    """12 training questions (three global batches of 4), 1 dev and 2 test questions on other documents."""
    corpus = [Document(id=f"d{i}", title="Help", text=answer) for i, (_, answer) in enumerate(qa)]
    queries = {f"q{i}": question for i, (question, _) in enumerate(qa)}
    split = {i: "train" if i < 12 else ("dev" if i == 12 else "test") for i in range(len(qa))}
    qrels = {name: {f"q{i}": {f"d{ANSWER.get(i, i)}": 1} for i in range(len(qa)) if split[i] == name}
             for name in ("train", "dev", "test")}
    return write_beir(folder, corpus, queries, qrels)


def _base_without_dropout(folder, base_model):
    """The base model with dropout 0, so that both runs compute the same forward pass."""
    config = base_model[0].auto_model.config
    saved = (config.hidden_dropout_prob, config.attention_probs_dropout_prob)
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    try:
        base_model.save(str(folder))
    finally:
        config.hidden_dropout_prob, config.attention_probs_dropout_prob = saved
    return folder


def _step_losses(model_dir):
    log = json.loads((model_dir / "train_log.json").read_text())
    return [(e["step"], e["loss"]) for e in log["log_history"] if "loss" in e]


def test_torchrun_command_and_nproc_option():
    command = torchrun_command(2, ["train", "cfg.yaml"])
    assert command[1:4] == ["-m", "torch.distributed.run", "--standalone"] and "--nproc-per-node=2" in command
    assert command[-4:] == ["-m", "embedtune", "train", "cfg.yaml"]
    assert without_option(["train", "--nproc", "2", "-q"], "--nproc") == ["train", "-q"]
    assert without_option(["train", "--nproc=2"], "--nproc") == ["train"]


@pytest.mark.slow
def test_two_processes_match_one_process_on_the_global_batch(tmp_path, base_model, help_qa):
    from sentence_transformers import SentenceTransformer

    data = _data(tmp_path / "data", help_qa)
    base = _base_without_dropout(tmp_path / "base", base_model)
    settings = {"data": [data], "base_model": str(base), "epochs": 2, "batch_size": 4, "max_seq_length": 32,
                "precision": "fp32", "keep_checkpoints": False, "baselines": False, "logging_steps": 1,
                "logq_correction": "on", "no_duplicates": False}  # repeated positives may share a batch: every
    # batch is then full, so both runs see the same 3 global batches per epoch (duplicate-free sharding is
    # tested in test_sampler.py)
    single = train(TrainConfig(output=tmp_path / "one", **settings), show_progress=False, echo=lambda *_: None)

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(TrainConfig(output=tmp_path / "two", **settings).to_yaml())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "embedtune", "train", str(recipe), "--nproc", "2", "--quiet"],
                         capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    one, two = tmp_path / "one", tmp_path / "two"
    losses_one, losses_two = _step_losses(one), _step_losses(two)
    assert [s for s, _ in losses_one] == [s for s, _ in losses_two] == [1, 2, 3, 4, 5, 6]
    for (_, a), (_, b) in zip(losses_one, losses_two, strict=True):
        assert a == pytest.approx(b, abs=2e-4)  # logged losses are rounded to 4 decimals

    model = SentenceTransformer(str(two))  # a stock model, written once, by rank 0
    reference = SentenceTransformer(str(one))
    texts = ["where is my invoice", "turn on two-factor authentication"]
    assert torch.nn.functional.cosine_similarity(
        torch.tensor(model.encode(texts)), torch.tensor(reference.encode(texts))).min() > 0.9999
    log_two = json.loads((two / "train_log.json").read_text())
    assert log_two["pairs_trained"] == 24 and single.n_pairs == 12
    assert [round(d["cosine_ndcg@10"], 4) for d in log_two["dev_history"]] == \
        [round(d["cosine_ndcg@10"], 4) for d in single.dev_history]
    eval_one, eval_two = (json.loads((d / "eval.json").read_text()) for d in (one, two))
    assert eval_two["split"] == "test"
    assert eval_two["systems"]["model"]["ndcg@10"] == pytest.approx(eval_one["systems"]["model"]["ndcg@10"], abs=1e-6)
    assert "## embedtune: did the fine-tune help?" in (two / "README.md").read_text()
    assert not (tmp_path / "two.partial").exists()
