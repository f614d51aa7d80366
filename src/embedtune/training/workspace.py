"""Where a run works until it is done: ``OUTPUT.partial/``, checkpoints, ``--resume``, the final swap.

A fine-tune writing to ``OUTPUT`` works in the visible folder ``OUTPUT.partial`` beside it:

```
OUTPUT.partial/
  embedtune-run.json          the run's config and state (e.g. the dev score before training)
  checkpoints/checkpoint-N/   the trainer's checkpoints: weights, optimizer, scheduler, RNG states,
                              trainer state; embedtune-complete.json is written last
  (the finished model's files, written by the finalize stage)
```

When the run finishes, the folder is renamed to ``OUTPUT`` in one step (the output appears complete or
not at all). When it is killed, ``OUTPUT.partial`` stays: ``embedtune train … --resume`` with the same
config continues from its last complete checkpoint, and a run started without ``--resume`` refuses to
touch it and says what it found and how to resume or discard it. A run that fails before its first
checkpoint removes the folder (there is nothing to resume).

Checkpoints are committed atomically: ``embedtune-complete.json`` is written (to a temporary name,
fsynced, renamed) only after the trainer has written every file of the checkpoint, and an older step
checkpoint is deleted only after a newer one is complete. A kill while a checkpoint is being written
leaves an unmarked folder, which ``--resume`` removes, and the previous checkpoint, which it uses.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from embedtune.config import TrainConfig
from embedtune.errors import EmbedtuneError
from embedtune.fileio import replace_dir, write_json_atomic
from embedtune.training.distributed import Processes

logger = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"
RUN_FILE = "embedtune-run.json"
COMPLETE_MARKER = "embedtune-complete.json"
CHECKPOINT_PREFIX = "checkpoint-"
# Config fields that do not change what is trained: a resumed run may differ in them.
NOT_FINGERPRINTED = ("resume", "force", "output")


def partial_path(output: str | Path) -> Path:
    """The folder a run writing to ``output`` works in: ``OUTPUT.partial`` beside it."""
    output = Path(output)
    return output.with_name(output.name + PARTIAL_SUFFIX)


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint: its folder, optimizer step and epoch; ``epoch_end`` = saved at an epoch's end."""

    path: Path
    step: int
    epoch: float
    epoch_end: bool


def mark_complete(folder: Path, step: int, epoch: float) -> Checkpoint:
    """Commit the checkpoint in ``folder``: write its marker last, durably (fsync file and folder)."""
    epoch_end = abs(epoch - round(epoch)) < 1e-6 and round(epoch) > 0
    marker = folder / COMPLETE_MARKER
    tmp = folder / f".{COMPLETE_MARKER}.tmp"
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump({"step": step, "epoch": epoch, "epoch_end": epoch_end}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, marker)
    _fsync_dir(folder)
    return Checkpoint(folder, step, epoch, epoch_end)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_checkpoint(folder: Path) -> Checkpoint | None:
    """The checkpoint in ``folder`` if its marker says it is complete, else None."""
    try:
        record = json.loads((folder / COMPLETE_MARKER).read_text(encoding="utf-8"))
        return Checkpoint(folder, int(record["step"]), float(record["epoch"]), bool(record["epoch_end"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def checkpoint_folders(checkpoints: Path) -> list[Path]:
    """Every ``checkpoint-N`` folder, complete or not, by step."""
    if not checkpoints.is_dir():
        return []
    found = [p for p in checkpoints.iterdir()
             if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and p.name[len(CHECKPOINT_PREFIX):].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))


def complete_checkpoints(checkpoints: Path) -> list[Checkpoint]:
    """The committed checkpoints, by step."""
    return [c for c in (read_checkpoint(p) for p in checkpoint_folders(checkpoints)) if c is not None]


def config_fingerprint(config: TrainConfig) -> dict[str, Any]:
    """The config fields that decide what is trained, with data paths made absolute."""
    values = config.model_dump(mode="json")
    for key in NOT_FINGERPRINTED:
        values.pop(key, None)
    values["data"] = [str(Path(d).resolve()) for d in config.data]
    return values


@dataclass
class Workspace:
    """The ``OUTPUT.partial`` folder of a run; ``resume_from`` is the checkpoint it continues from."""

    output: Path
    path: Path
    run: dict[str, Any] = field(default_factory=dict)
    resume_from: Checkpoint | None = None
    is_main: bool = True

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def remember(self, key: str, value: Any) -> None:
        """Store ``value`` in the run file, for a resumed run to reuse."""
        self.run[key] = value
        if self.is_main:
            write_json_atomic(self.path / RUN_FILE, self.run)

    def commit_checkpoint(self, folder: Path, step: int, epoch: float, keep: set[Path], keep_epochs: bool = True) -> None:
        """Mark ``folder`` complete, then delete the older checkpoints that are no longer needed: step
        checkpoints, and with ``keep_epochs`` False epoch-end ones too; those in ``keep`` (the best) stay."""
        if not self.is_main:
            return
        mark_complete(folder, step, epoch)
        for old in complete_checkpoints(self.checkpoints):
            if old.step < step and not (old.epoch_end and keep_epochs) and old.path.resolve() not in keep:
                shutil.rmtree(old.path, ignore_errors=True)

    def publish(self, keep_checkpoints: bool) -> None:
        """Tidy the folder and rename it to the output in one step."""
        if not self.is_main:
            return
        (self.path / RUN_FILE).unlink(missing_ok=True)
        if keep_checkpoints:
            for folder in checkpoint_folders(self.checkpoints):
                checkpoint = read_checkpoint(folder)
                if checkpoint is None or not checkpoint.epoch_end:
                    shutil.rmtree(folder, ignore_errors=True)
        else:
            shutil.rmtree(self.checkpoints, ignore_errors=True)
        replace_dir(self.path, self.output)

    def abandon(self, echo=print) -> None:
        """After a failure: keep the folder if a checkpoint can be resumed (and say how), else remove it."""
        if not self.is_main or not self.path.exists():
            return
        done = complete_checkpoints(self.checkpoints)
        if done:
            echo(f"the run stopped; {describe(self.path, done)} To continue: the same command with --resume.")
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def describe(path: Path, checkpoints: list[Checkpoint]) -> str:
    """One sentence on an interrupted run's folder."""
    if not checkpoints:
        return f"{path} holds an interrupted run with no complete checkpoint."
    last = checkpoints[-1]
    return (f"{path} holds an interrupted run: last complete checkpoint {last.path.name} "
            f"(step {last.step}, epoch {last.epoch:.2f}).")


def open_workspace(config: TrainConfig, *, processes: Processes = Processes(), echo=print) -> Workspace:
    """The run's ``OUTPUT.partial``: a new one, or with ``config.resume`` the interrupted run's.

    Without ``resume``, an existing ``OUTPUT.partial`` stops the run with what it holds and how to resume
    or discard it. With ``resume`` the stored config must match (the fields that decide training); unmarked
    (half-written) checkpoints are removed. Under torchrun rank 0 decides and the others get its workspace.
    """
    workspace = _open_main(config, echo) if processes.is_main else None
    if processes.world_size > 1:
        workspace = replace(processes.broadcast(workspace), is_main=processes.is_main)
    return workspace


def _open_main(config: TrainConfig, echo) -> Workspace:
    output = Path(config.output)
    path = partial_path(output)
    workspace = Workspace(output=output, path=path)
    if path.exists():
        done = complete_checkpoints(path / "checkpoints")
        if not config.resume:
            raise EmbedtuneError(
                f"{describe(path, done)} Resume it with the same command plus --resume, or delete "
                f"{path} to start over."
            )
        run = _read_run_file(path)
        stored, current = run.get("config"), config_fingerprint(config)
        if stored is not None and stored != current:
            changed = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
            raise EmbedtuneError(
                f"{path}: cannot resume, the config differs from the interrupted run's in: {', '.join(changed)} "
                f"(delete {path} to start over with the new config)"
            )
        for folder in checkpoint_folders(path / "checkpoints"):
            if read_checkpoint(folder) is None:
                logger.info("removing %s: an unfinished checkpoint", folder)
                shutil.rmtree(folder, ignore_errors=True)
        workspace.run = run
        workspace.resume_from = done[-1] if done else None
        if workspace.resume_from is not None:
            echo(f"resuming from {workspace.resume_from.path} (step {workspace.resume_from.step}, "
                 f"epoch {workspace.resume_from.epoch:.2f})")
        else:
            echo(f"{path} has no complete checkpoint: training from the start")
        return workspace
    if config.resume:
        echo(f"nothing to resume ({path} does not exist): starting a new run")
    path.mkdir(parents=True)
    workspace.run = {"config": config_fingerprint(config), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    workspace.remember("started", workspace.run["started"])
    return workspace


def _read_run_file(path: Path) -> dict[str, Any]:
    try:
        run = json.loads((path / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return run if isinstance(run, dict) else {}
