"""kill -9 at a step, or while a checkpoint is written, then --resume: the same weights and metrics as a run
that was never interrupted.

Every run is a fresh Python process with the same environment: bit-identical weights need the same
thread count, and tests that ran earlier in the pytest process may have changed its torch/BLAS threads."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest

from embedtune.config import TrainConfig
from embedtune.errors import EmbedtuneError
from embedtune.training import train

pytestmark = pytest.mark.slow

# Runs a fine-tune (mode "none": to the end) that SIGKILLs itself: at the start of optimizer step KILL_AT + 1 ("step"), or after the
# trainer wrote every file of checkpoint KILL_AT but before embedtune commits it ("checkpoint").
KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from embedtune.config import TrainConfig
    from embedtune.training import train
    import embedtune.training.trainer as trainer_module
    import embedtune.training.workspace as workspace_module

    config, kill_at, mode = TrainConfig.model_validate_json(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    if mode == "none":
        pass
    elif mode == "step":
        step = trainer_module.EmbedtuneTrainer.training_step
        def training_step(self, *args, **kwargs):
            if self.state.global_step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return step(self, *args, **kwargs)
        trainer_module.EmbedtuneTrainer.training_step = training_step
    else:
        commit = workspace_module.mark_complete
        def mark_complete(folder, step, epoch):
            if step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return commit(folder, step, epoch)
        workspace_module.mark_complete = mark_complete
    train(config, show_progress=False, echo=lambda *_: None)
""")
TIMING_KEYS = ("runtime", "per_second", "train_loss")  # wall-clock figures; train_loss covers one process's steps


def _deterministic(log_history):
    return [{k: v for k, v in entry.items() if not any(t in k for t in TIMING_KEYS)} for entry in log_history]


# 9 pairs, batch 4: 3 steps per epoch, 6 in all; a checkpoint at every step; best dev epoch kept.
SETTINGS = {"epochs": 2, "batch_size": 4, "max_seq_length": 32, "checkpoint_steps": 1, "keep_checkpoints": False,
            "baselines": False}
QUIET = {"show_progress": False, "echo": lambda *_: None}


def _run(config: TrainConfig, mode: str = "none", kill_at: int = -1) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", KILLED_RUN, config.model_dump_json(), str(kill_at), mode],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_beir_maker):
    root = tmp_path_factory.mktemp("uninterrupted")
    data = tiny_beir_maker(root / "data")
    run = _run(TrainConfig(data=[data], output=root / "a", **SETTINGS))
    assert run.returncode == 0, run.stderr[-2000:]
    return data, root / "a"


@pytest.mark.parametrize(("mode", "kill_at"), [("step", 4), ("checkpoint", 3)])
def test_killed_run_resumes_to_the_same_weights_and_metrics(tmp_path, uninterrupted, mode, kill_at):
    data, a = uninterrupted
    config = TrainConfig(data=[data], output=tmp_path / "b", **SETTINGS)
    killed = _run(config, mode, kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (tmp_path / "b.partial" / "checkpoints").is_dir() and not (tmp_path / "b").exists()
    with pytest.raises(EmbedtuneError, match="--resume"):
        train(config, **QUIET)

    resumed = _run(config.model_copy(update={"resume": True}))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not (tmp_path / "b.partial").exists()
    b = tmp_path / "b"
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    log_a, log_b = (json.loads((d / "train_log.json").read_text()) for d in (a, b))
    assert log_a["epoch_losses"] == log_b["epoch_losses"] and log_a["dev_history"] == log_b["dev_history"]
    assert _deterministic(log_a["log_history"]) == _deterministic(log_b["log_history"])
    assert log_a["best_checkpoint"] == log_b["best_checkpoint"]
    eval_a, eval_b = (json.loads((d / "eval.json").read_text())["systems"] for d in (a, b))
    assert eval_a == eval_b
    assert "resume: false" in (b / "config.yaml").read_text()  # the recipe, not the invocation
