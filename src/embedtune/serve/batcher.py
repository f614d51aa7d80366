"""Micro-batching: concurrent requests wait a few milliseconds so one encoder call serves them all.

One worker task takes the first waiting job, gathers whatever else arrives within ``max_wait_ms``
(up to ``max_batch`` jobs), runs the batch function once in a worker thread (the event loop keeps
accepting requests meanwhile) and hands each caller its own result. Failures stay with the job that
caused them: if the batch function raises, each job of the batch is run again on its own, so one bad
job gets its error and the others their results.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_STOP = object()


@dataclass
class _Job(Generic[T]):
    payload: T
    future: asyncio.Future = field(repr=False)


class MicroBatcher(Generic[T, R]):
    """``await batcher.submit(x)`` returns ``fn([... x ...])[i]`` for the batch ``x`` landed in."""

    def __init__(self, fn: Callable[[list[T]], list[R]], max_batch: int = 64, max_wait_ms: float = 2.0,
                 on_batch: Callable[[int], None] | None = None):
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.on_batch = on_batch
        self._queue: asyncio.Queue[Any] | None = None
        self._worker: asyncio.Task | None = None
        # One thread: the encoder runs one batch at a time, which is what makes batching pay.
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedtune-batch")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run(), name="embedtune-microbatcher")

    async def stop(self) -> None:
        """Finish every job already submitted, then stop (graceful shutdown)."""
        if self._queue is not None and self._worker is not None:
            await self._queue.put(_STOP)
            await self._worker
        self._executor.shutdown(wait=True)

    async def submit(self, payload: T) -> R:
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(payload, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is _STOP:
                break
            batch: list[_Job] = [first]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.max_batch:
                try:
                    job = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        job = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                if job is _STOP:
                    stopping = True
                    break
                batch.append(job)
            live = [job for job in batch if not job.future.cancelled()]
            if not live:
                continue
            if self.on_batch is not None:
                self.on_batch(len(live))
            try:
                results = await loop.run_in_executor(self._executor, self.fn, [job.payload for job in live])
            except Exception as exc:
                if len(live) == 1:
                    _settle(live[0], exc=exc)
                    continue
                # One job spoiled the batch: run each alone so only that one fails (the worker lives on).
                for job in live:
                    try:
                        [result] = await loop.run_in_executor(self._executor, self.fn, [job.payload])
                    except Exception as job_exc:
                        _settle(job, exc=job_exc)
                    else:
                        _settle(job, result)
                continue
            for job, result in zip(live, results, strict=True):
                _settle(job, result)


def _settle(job: _Job, result: Any = None, exc: BaseException | None = None) -> None:
    if job.future.done():  # the caller went away
        return
    if exc is not None:
        job.future.set_exception(exc)
    else:
        job.future.set_result(result)
