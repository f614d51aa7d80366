"""The three stages of a fine-tune, each tested on its own without a full training run."""

from __future__ import annotations

import json
import math

import pytest
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from embedtune.chance import chance_loss
from embedtune.config import TrainConfig
from embedtune.errors import EmbedtuneError
from embedtune.losses import LogQCorrectedMNRL
from embedtune.training.finalize import finalize
from embedtune.training.fit import Fitted, dev_metrics, epoch_losses, logging_steps, training_arguments
from embedtune.training.precision import Precision
from embedtune.training.prepare import prepare
from embedtune.training.sampler import BatchSamplerFactory


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, tiny_beir_maker):
    root = tmp_path_factory.mktemp("stages")
    data = tiny_beir_maker(root / "data")
    config = TrainConfig(data=[data], output=root / "never-written", batch_size=4, max_seq_length=64)
    return config, prepare(config, echo=lambda *_: None)


def test_prepare_reads_checks_and_assembles_without_writing(prepared):
    config, run = prepared
    assert run.n_pairs == 9 and list(run.train_datasets.values())[0].column_names == ["anchor", "positive"]
    assert isinstance(run.loss, MultipleNegativesRankingLoss) and not run.use_logq
    assert run.chance == pytest.approx(math.log(4)) and run.n_negatives == 0
    assert run.evaluator is not None and run.evaluator.name == "dev"
    assert {s.name for s in run.inputs.held_out} == {"dev", "test"}
    assert run.doctor.findings is not None
    assert not config.output.exists()


def test_prepare_with_logq_adds_log_q_labels_and_its_own_chance_level(tiny_beir):
    config = TrainConfig(data=[tiny_beir], output=tiny_beir.parent / "out", batch_size=4, logq_correction="on")
    run = prepare(config, echo=lambda *_: None)
    assert isinstance(run.loss, LogQCorrectedMNRL) and run.use_logq
    assert "label" in next(iter(run.train_datasets.values())).column_names
    assert run.chance == pytest.approx(math.log(4), abs=1e-6)  # every positive is distinct: q is uniform


def test_prepare_stops_on_doctor_errors(tiny_beir, tmp_path):
    # the training anchors are also dev queries: an evaluation that would lie
    (tiny_beir / "qrels" / "dev.tsv").write_text(
        (tiny_beir / "qrels" / "dev.tsv").read_text() + "q-billing-0\tbilling-0\t1\n")
    with pytest.raises(EmbedtuneError, match="data doctor found errors"):
        prepare(TrainConfig(data=[tiny_beir], output=tmp_path / "o", batch_size=4), echo=lambda *_: None)


def test_training_arguments_follow_the_config(prepared, tmp_path):
    config, run = prepared
    samplers = BatchSamplerFactory(run.model.tokenizer, config.max_seq_length)
    args = training_arguments(config, run, tmp_path / "ck", Precision("bf16", "cpu", "test"), samplers)
    assert not args.bf16 and not args.fp16  # CPU bf16 is embedtune's encoder autocast, not the trainer's
    assert args.load_best_model_at_end and args.metric_for_best_model == "eval_dev_cosine_ndcg@10"
    assert "group_by_length=True" in repr(args.batch_sampler)
    assert logging_steps(config, run) == 1  # 9 pairs / batch 4: two logs per epoch need a log every step
    gpu = training_arguments(config.model_copy(update={"keep": "last"}), run, tmp_path / "ck",
                             Precision("fp16", "cuda", "test"), samplers)
    assert gpu.fp16 and not gpu.load_best_model_at_end


def test_epoch_losses_and_dev_metrics_from_the_trainer_log():
    history = [
        {"loss": 3.0, "epoch": 0.5, "step": 1}, {"loss": 2.0, "epoch": 1.0, "step": 2},
        {"eval_dev_cosine_ndcg@10": 0.5, "eval_runtime": 1.0, "epoch": 1.0, "step": 2},
        {"loss": 1.0, "epoch": 1.5, "step": 3}, {"eval_dev_cosine_ndcg@10": 0.6, "epoch": 2.0, "step": 4},
    ]
    assert epoch_losses(history) == [2.5, 1.0]
    assert dev_metrics(history, "dev") == [{"epoch": 1.0, "cosine_ndcg@10": 0.5}, {"epoch": 2.0, "cosine_ndcg@10": 0.6}]
    assert dev_metrics(history, None) == []


@pytest.mark.slow
def test_finalize_saves_evaluates_and_documents_a_fitted_model(prepared, tmp_path):
    """finalize on the untrained base model standing in for a fitted one: every output appears."""
    from sentence_transformers import SentenceTransformer

    from embedtune.doctor import check_training_loss

    config, run = prepared
    stuck = [math.log(4), math.log(4)]  # a loss that never left chance level
    fitted = Fitted(
        model=run.model, log_history=[{"loss": stuck[0], "epoch": 1.0}], epoch_losses=stuck,
        dev_history=[{"epoch": 0.0, "cosine_ndcg@10": 0.5}], loss_finding=check_training_loss(stuck, 4),
        precision=Precision("bf16", "cpu", "auto: test"), train_seconds=2.0, pairs_trained=18, padding_share=0.25,
        length_grouping=[{"grouped": False, "padding_random": 0.25, "padding_grouped": 0.24, "min_saving": 0.05}],
        attention_kernel="math", best_checkpoint=None,
    )
    folder = tmp_path / "model"
    folder.mkdir()
    result = finalize(run, fitted, config, folder, output=tmp_path / "published", started=0.0, echo=lambda *_: None)
    assert result.learned_nothing and result.warnings and result.pairs_per_second == 9.0
    assert SentenceTransformer(str(folder)).encode(["a question"]).shape == (1, 384)
    log = json.loads((folder / "train_log.json").read_text())
    assert log["precision"]["name"] == "bf16" and log["padding_share"] == 0.25 and log["learned_nothing"]
    assert log["group_by_length"] is False and log["length_grouping"][0]["padding_grouped"] == 0.24
    assert "random batches; grouping by length would have padded 24.0% instead of 25.0%" in (folder / "README.md").read_text()
    assert log["attention_kernel"] == "math"
    assert json.loads((folder / "eval.json").read_text())["split"] == "test"
    card = (folder / "README.md").read_text()
    assert "this model learned nothing" in card and "Precision: bf16 on cpu" in card
    assert f"warning threshold {0.9 * chance_loss(4):.4f}" in card
    assert any(f["code"] == "loss_not_decreasing" for f in json.loads((folder / "doctor.json").read_text())["findings"])
    assert (folder / "report.html").is_file()
