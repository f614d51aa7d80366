"""A tiny end-to-end fine-tune: the output is a stock sentence-transformers model with an honest card."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from embedtune.chance import chance_loss
from embedtune.cli import app
from embedtune.config import TrainConfig
from embedtune.training import train
from embedtune.training.fit import epoch_losses

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_beir_maker):
    root = tmp_path_factory.mktemp("train")
    data = tiny_beir_maker(root / "data")
    out = root / "model"
    result = train(
        TrainConfig(data=[data], output=out, epochs=2, batch_size=4, max_seq_length=64, keep_checkpoints=False),
        show_progress=False, echo=lambda *_: None,
    )
    return data, out, result


def test_saved_model_loads_with_plain_sentence_transformers(tiny_run):
    from sentence_transformers import SentenceTransformer

    _, out, _ = tiny_run
    model = SentenceTransformer(str(out))
    assert model.encode(["does sync work offline?"]).shape == (1, 384)
    assert model.max_seq_length == 64


def test_eval_json_has_every_metric_and_baseline(tiny_run):
    _, out, result = tiny_run
    report = json.loads((out / "eval.json").read_text())
    assert report["split"] == "test"
    # bm25_expanded: BM25 over each passage plus its (real) training questions
    assert set(report["systems"]) == {"model", "base", "bm25", "bm25_expanded", "hybrid", "base_hybrid"}
    for system in report["systems"].values():
        for key in ("ndcg@10", "recall@10", "mrr@10", "map@100", "accuracy@1", "accuracy@10", "precision@5", "recall@1"):
            assert 0.0 <= system[key] <= 1.0
    assert {(c["system"], c["baseline"]) for c in report["comparisons"]} == {
        ("model", "base"), ("model", "bm25"), ("model", "bm25_expanded"), ("hybrid", "model"), ("hybrid", "bm25"),
        ("hybrid", "bm25_expanded"), ("hybrid", "base"), ("hybrid", "base_hybrid")}
    assert report["verdict"].startswith("model: ")
    assert json.loads((out / "fusion.json").read_text())["split"] == "dev"  # chosen on dev, kept in the model
    assert (out / "runs" / "bm25.trec").is_file() and (out / "per_query.jsonl").is_file()


def test_card_logs_and_doctor(tiny_run):
    _, out, result = tiny_run
    card = (out / "README.md").read_text()
    assert "## embedtune: did the fine-tune help?" in card and "| bm25 |" in card
    assert "MultipleNegativesRankingLoss" in card and "### Framework Versions" in card
    log = json.loads((out / "train_log.json").read_text())
    assert len(log["epoch_losses"]) == 2 and log["dev_history"][0]["epoch"] == 0.0
    from embedtune.doctor import FindingCode

    doctor = json.loads((out / "doctor.json").read_text())  # the doctor ran on this run's own data and settings
    assert (doctor["stats"]["n_pairs"], doctor["stats"]["batch_size"], doctor["stats"]["max_seq_length"]) == (9, 4, 64)
    assert all(f["code"] in set(FindingCode) for f in doctor["findings"])
    assert doctor["n_warnings"] == sum(f["severity"] == "warning" for f in doctor["findings"])
    assert not list(out.parent.glob(".model.*"))  # no temporary folders left behind


def test_epoch_losses_and_chance():
    history = [{"loss": 3.0, "epoch": 0.5}, {"loss": 2.0, "epoch": 1.0}, {"loss": 1.0, "epoch": 1.5}, {"eval_x": 1, "epoch": 2.0}]
    assert epoch_losses(history) == [2.5, 1.0]
    assert chance_loss(32) == pytest.approx(3.4657, abs=1e-4)


def test_cli_train_eval_doctor(tiny_run, tmp_path):
    data, out, _ = tiny_run
    runner = CliRunner()
    res = runner.invoke(app, ["eval", "--model", str(out), "--data", str(data), "--split", "dev",
                              "--output", str(tmp_path / "ev"), "--quiet", "--resamples", "500"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "ev" / "eval.json").read_text())["split"] == "dev"
    res = runner.invoke(app, ["doctor", str(data)])
    assert res.exit_code == 0 and "finding" in res.output.lower()
    res = runner.invoke(app, ["train", "--data", str(tmp_path / "missing"), "--output", str(tmp_path / "o")])
    assert res.exit_code != 0 and not (tmp_path / "o").exists()


def _mining_corpus() -> tuple[list, list[str]]:
    from embedtune.data.records import Pair

    topics = ["billing", "passwords", "shipping", "returns", "invoices", "accounts", "refunds", "coupons",
              "gift cards", "subscriptions", "exports", "backups"]
    corpus = [f"How {t} work: the {t} page explains every step of managing {t} in the app." for t in topics]
    corpus += [f"Unrelated note number {i} about the weather and gardening." for i in range(20)]
    pairs = [Pair(f"where do I manage {t}?", corpus[i]) for i, t in enumerate(topics)]
    return pairs, corpus


def test_mining_keeps_pairs_it_cannot_serve_with_random_negatives(base_model, tmp_path, monkeypatch):
    """sentence-transformers drops pairs without enough candidates below the margin; embedtune keeps them."""
    from embedtune.training.prepare import mine_negatives

    monkeypatch.setenv("EMBEDTUNE_CACHE", str(tmp_path / "cache"))
    pairs, corpus = _mining_corpus()
    # A margin of 0.99 rejects every candidate scoring above 1% of the positive: nothing can be mined.
    strict = TrainConfig(data=["x"], output="y", hard_negatives=2, hard_negative_range_min=0,
                         hard_negative_range_max=5, hard_negative_margin=0.99)
    kept, n_random = mine_negatives(pairs, base_model, strict, corpus)
    assert n_random == len(pairs) and len(kept) == len(pairs)
    for original, pair in zip(pairs, kept, strict=True):
        assert (pair.anchor, pair.positive) == (original.anchor, original.positive)
        assert len(pair.negatives) == 2 and len(set(pair.negatives)) == 2
        assert pair.positive not in pair.negatives and set(pair.negatives) <= set(corpus)

    # Without a margin every pair gets mined negatives: the nearest other topic pages, not the weather notes.
    loose = strict.model_copy(update={"hard_negative_margin": None, "hard_negative_range_min": 1})
    mined, n_random = mine_negatives(pairs, base_model, loose, corpus)
    assert n_random == 0 and len(mined) == len(pairs)
    assert all(p.positive not in p.negatives for p in mined)
    assert sum("weather" in n for p in mined for n in p.negatives) < len(pairs) // 2


def test_merge_base_zero_gives_back_the_base_model(tiny_beir_maker, tmp_path, base_model):
    """``merge_base`` is applied before saving and before the final evaluation: at 0 the model is the base."""
    from sentence_transformers import SentenceTransformer

    data = tiny_beir_maker(tmp_path / "data")
    result = train(
        TrainConfig(data=[data], output=tmp_path / "m", epochs=1, batch_size=4, max_seq_length=64, merge_base=0.0,
                    baselines=True),
        show_progress=False, echo=lambda *_: None,
    )
    texts = ["where is my invoice", "reset a password"]
    saved = SentenceTransformer(str(result.output)).encode(texts)
    assert abs(saved - base_model.encode(texts)).max() < 1e-5
    scores = {s: m["ndcg@10"] for s, m in json.loads((result.output / "eval.json").read_text())["systems"].items()}
    assert scores["model"] == pytest.approx(scores["base"], abs=1e-6)
    assert json.loads((result.output / "train_log.json").read_text())["merge_base"] == 0.0
