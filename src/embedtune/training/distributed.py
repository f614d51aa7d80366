"""Data-parallel training with torchrun: which process this is, and launching the processes.

``torchrun --nproc-per-node N -m embedtune train CONFIG`` (or ``embedtune train --nproc N``, which runs
that command) starts N processes that each run :func:`embedtune.training.train`. ``batch_size`` stays the
*global* batch: each process takes ``batch_size / N`` pairs of every batch, and the loss gathers the
embeddings of all processes, so every anchor still has ``batch_size - 1`` in-batch negatives and a
step computes the same loss as one process with the whole batch. Rank 0 alone writes (the workspace,
checkpoints, the final model, its evaluation and card); the others wait for its decisions here.
On CPUs the processes talk over gloo, on GPUs over NCCL (accelerate picks).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Processes:
    """This process's rank among ``world_size`` training processes."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value``, on every process."""
        if self.world_size == 1:
            return value
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([value], from_process=0)[0]

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first, then the first process of every other machine, then the rest:
        a cache the block fills (hard-negative mining) is written by one process per machine at a time."""
        if self.world_size == 1:
            yield
            return
        from accelerate import PartialState

        state = PartialState()  # the state current_processes() started
        with state.main_process_first(), state.local_main_process_first():
            yield


def current_processes() -> Processes:
    """The torchrun environment (``RANK``, ``WORLD_SIZE``); starts the process group when there are several."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Processes()
    import torch
    from accelerate import PartialState

    # Initialises torch.distributed: NCCL on GPUs; on CPUs accelerate only goes multi-process when told
    # it is on a CPU (gloo), as the trainer is told with use_cpu (embedtune.training.fit.training_arguments).
    state = PartialState(cpu=not torch.cuda.is_available())
    return Processes(rank=state.process_index, world_size=state.num_processes)


def torchrun_command(nproc: int, args: Sequence[str]) -> list[str]:
    """The torchrun command that runs ``embedtune ARGS`` in ``nproc`` processes on this machine."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "embedtune", *args]


def without_option(args: Sequence[str], name: str) -> list[str]:
    """``args`` without ``--name VALUE`` / ``--name=VALUE``."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(f"{name}="):
            out.append(arg)
    return out


def launch(nproc: int, args: Sequence[str]) -> int:
    """Run ``embedtune ARGS`` under torchrun with ``nproc`` processes; returns its exit code."""
    return subprocess.run(torchrun_command(nproc, args), check=False).returncode
