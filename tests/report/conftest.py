"""Run folders for the report tests: a real tiny fine-tune (once per session) and fake evaluations."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from embedtune.data import Document, write_beir
from embedtune.data.beir import load_retrieval_split
from tests.report.report_helpers import fake_eval_dir, make_report_beir, shuffled_rankings


@pytest.fixture
def report_beir(tmp_path: Path) -> Path:
    return make_report_beir(tmp_path / "data")


@pytest.fixture
def eval_only_dir(report_beir: Path, tmp_path: Path) -> Path:
    """An eval folder where the model ranks every relevant document first and the baselines are shuffled."""
    ret = load_retrieval_split(report_beir, "test")
    base = shuffled_rankings(report_beir, 1)
    model = {q: sorted(ret.relevant(q)) + [d for d in base[q] if d not in ret.relevant(q)] for q in ret.query_ids}
    return fake_eval_dir(report_beir, tmp_path / "eval", {"model": model, "base": base,
                                                          "bm25": shuffled_rankings(report_beir, 2)})


@pytest.fixture
def recsys_eval_dir(tmp_path: Path) -> Path:
    items = [Document(id=f"item-{i}", title=f"Item {i}", text=f"A product number {i}") for i in range(30)]
    users = {f"u{i}": f"- History: item {i}, item {i + 1}" for i in range(12)}
    qrels = {"train": {f"u{i}": {f"item-{i + 2}": 1} for i in range(6)},
             "test": {f"u{i}": {f"item-{(i + 3) % 30}": 1} for i in range(6, 12)}}
    data = write_beir(tmp_path / "shop", items, users, qrels, manifest={"kind": "recsys"})
    return fake_eval_dir(data, tmp_path / "eval", {
        "model": shuffled_rankings(data, 3), "base": shuffled_rankings(data, 4),
        "popularity": shuffled_rankings(data, 5), "cooccurrence": shuffled_rankings(data, 6),
    })


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A real two-epoch fine-tune on the tiny data (about a minute on 2 busy cores), shared by the module."""
    from embedtune.config import TrainConfig
    from embedtune.training import train

    root = tmp_path_factory.mktemp("report-run")
    data = make_report_beir(root / "data")
    out = root / "run"
    train(
        TrainConfig(data=[data], output=out, epochs=2, batch_size=4, max_seq_length=64, keep_checkpoints=False),
        show_progress=False, echo=lambda *_: None,
    )
    return out


@pytest.fixture
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    """A private copy of the trained run (without the model weights, which the report does not read)."""
    dst = tmp_path / "run"
    shutil.copytree(trained_run, dst, ignore=shutil.ignore_patterns("*.safetensors", "checkpoints"))
    return dst
