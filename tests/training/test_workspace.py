"""OUTPUT.partial: leftovers are reported, resumed only with the same config, checkpoints commit atomically."""

from __future__ import annotations

import json

import pytest

from embedtune.config import TrainConfig
from embedtune.errors import EmbedtuneError
from embedtune.training.workspace import (
    COMPLETE_MARKER,
    RUN_FILE,
    complete_checkpoints,
    open_workspace,
    partial_path,
    read_checkpoint,
)


def _config(tmp_path, **overrides):
    pairs = tmp_path / "pairs.jsonl"
    pairs.touch()
    return TrainConfig(data=[pairs], output=tmp_path / "model", **overrides)


def _checkpoint(workspace, step, epoch, complete=True):
    folder = workspace.checkpoints / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    if complete:
        workspace.commit_checkpoint(folder, step, epoch, keep=set())
    return folder


def test_new_run_works_in_output_partial_and_publishes_atomically(tmp_path):
    config = _config(tmp_path)
    ws = open_workspace(config, echo=lambda *_: None)
    assert ws.path == tmp_path / "model.partial" == partial_path(config.output) and ws.path.is_dir()
    assert json.loads((ws.path / RUN_FILE).read_text())["config"]["data"] == [str((tmp_path / "pairs.jsonl").resolve())]
    _checkpoint(ws, 3, 1.0)
    _checkpoint(ws, 4, 1.33)
    _checkpoint(ws, 6, 2.0)
    (ws.path / "model.safetensors").write_bytes(b"final")
    ws.publish(keep_checkpoints=True)
    out = tmp_path / "model"
    assert not ws.path.exists() and (out / "model.safetensors").read_bytes() == b"final"
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-3", "checkpoint-6"]  # epoch ends
    assert not (out / RUN_FILE).exists()


def test_a_leftover_is_reported_with_how_to_resume_or_discard(tmp_path):
    config = _config(tmp_path)
    ws = open_workspace(config, echo=lambda *_: None)
    _checkpoint(ws, 2, 0.67)
    with pytest.raises(EmbedtuneError) as err:
        open_workspace(config, echo=lambda *_: None)
    message = str(err.value)
    assert str(ws.path) in message and "checkpoint-2" in message and "step 2" in message
    assert "--resume" in message and "delete" in message
    assert (ws.path / "checkpoints" / "checkpoint-2").is_dir()  # nothing was touched


def test_resume_takes_the_last_complete_checkpoint_and_drops_a_half_written_one(tmp_path):
    config = _config(tmp_path)
    ws = open_workspace(config, echo=lambda *_: None)
    _checkpoint(ws, 2, 0.67)
    _checkpoint(ws, 4, 1.33)
    half = _checkpoint(ws, 6, 2.0, complete=False)  # killed while the trainer wrote it
    ws.remember("dev_before", {"epoch": 0.0, "cosine_ndcg@10": 0.5})
    said = []
    resumed = open_workspace(config.model_copy(update={"resume": True, "force": True}), echo=said.append)
    assert resumed.resume_from.step == 4 and resumed.resume_from.path.name == "checkpoint-4"
    assert not half.exists() and "resuming from" in said[0]
    assert resumed.run["dev_before"] == {"epoch": 0.0, "cosine_ndcg@10": 0.5}
    assert not (ws.checkpoints / "checkpoint-2").exists()  # older step checkpoints go once a newer one is complete


def test_resume_refuses_a_different_config(tmp_path):
    config = _config(tmp_path)
    open_workspace(config, echo=lambda *_: None)
    with pytest.raises(EmbedtuneError, match="differs from the interrupted run's in: batch_size, lr"):
        open_workspace(config.model_copy(update={"resume": True, "lr": 1e-5, "batch_size": 8}), echo=lambda *_: None)


def test_resume_without_a_leftover_starts_a_new_run(tmp_path):
    said = []
    ws = open_workspace(_config(tmp_path, resume=True), echo=said.append)
    assert ws.resume_from is None and ws.path.is_dir() and "nothing to resume" in said[0]


def test_abandon_keeps_only_resumable_work(tmp_path):
    config = _config(tmp_path)
    empty = open_workspace(config, echo=lambda *_: None)
    empty.abandon(echo=lambda *_: None)
    assert not empty.path.exists()  # failed before any checkpoint: nothing to resume, nothing left behind
    ws = open_workspace(config, echo=lambda *_: None)
    _checkpoint(ws, 2, 0.5)
    said = []
    ws.abandon(echo=said.append)
    assert ws.path.exists() and "--resume" in said[0]


def test_a_checkpoint_without_its_marker_is_not_complete(tmp_path):
    ws = open_workspace(_config(tmp_path), echo=lambda *_: None)
    folder = _checkpoint(ws, 5, 1.0)
    assert read_checkpoint(folder).epoch_end
    (folder / COMPLETE_MARKER).write_text('{"step": 5')  # torn write
    assert read_checkpoint(folder) is None and complete_checkpoints(ws.checkpoints) == []
