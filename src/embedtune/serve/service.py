"""The service behind the endpoints: the current (index, encoder) pair, hot reload, and batches of jobs."""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from embedtune.errors import EmbedtuneError
from embedtune.fileio import recover_dir
from embedtune.index import MANIFEST_FILE, VectorIndex, writers_excluded
from embedtune.serve.settings import ServeSettings

log = logging.getLogger(__name__)


@dataclass
class SearchJob:
    query: str
    k: int
    filters: dict[str, Any] | None


@dataclass
class EmbedJob:
    texts: list[str]


@dataclass
class _Loaded:
    index: VectorIndex
    encoder: Any
    stamp: tuple[int, int]
    loaded_at: str


RELOAD_LOCK_WAIT_S = 30.0


def _stamp(index_dir: Path) -> tuple[int, int]:
    stat = (index_dir / MANIFEST_FILE).stat()
    return stat.st_ino, stat.st_mtime_ns


class SearchService:
    """Holds the current (index, encoder) pair and answers batches of jobs against it."""

    def __init__(self, settings: ServeSettings, encoder: Any = None):
        self.settings = settings
        self._given_encoder = encoder
        self._reload_lock = threading.Lock()
        self.reloads = 0
        self._failed: tuple[tuple[int, int], str] | None = None  # the index version that failed to load, and why
        self.state = self._load(None)
        self._recommender: Any = None
        self._recommender_lock = threading.Lock()

    def _load(self, previous: _Loaded | None) -> _Loaded:
        from embedtune.encoders import load_encoder

        path = self.settings.index
        if self.settings.store is not None:  # the database is live: nothing to stamp or poll
            from embedtune.store.postgres import open_store_index

            stamp, index = (0, 0), open_store_index(self.settings.store.get_secret_value(), self.settings.table)
        elif path is None:
            raise EmbedtuneError("nothing to serve: give an index folder or a --store URL")
        else:
            with contextlib.suppress(OSError):  # a read-only location: nothing was ever swapped there by us
                recover_dir(path)  # a writer killed mid-swap left the previous version beside the path
            try:
                stamp = _stamp(path)
            except (FileNotFoundError, NotADirectoryError):
                raise EmbedtuneError(f"{path} is not an embedtune index (no {MANIFEST_FILE}); build one with "
                                     "`embedtune index build`") from None
            index = VectorIndex.load(path)
            if _stamp(path) != stamp:
                raise EmbedtuneError(f"{path} changed while it was being read; it is read again on the next poll")
        backend = self.settings.backend or index.manifest.backend
        encoder = self._given_encoder
        if encoder is None and previous is not None:
            same = (previous.index.manifest.model, previous.encoder.backend) == (index.manifest.model, backend)
            encoder = previous.encoder if same else None
        if encoder is None:
            encoder = load_encoder(index.manifest.model, backend, threads=self.settings.threads)
        if encoder.dim != index.dim:
            raise EmbedtuneError(f"the model gives {encoder.dim}-d vectors, the index at {path} holds {index.dim}-d")
        return _Loaded(index=index, encoder=encoder, stamp=stamp, loaded_at=datetime.now(UTC).isoformat(timespec="seconds"))

    def reload_if_changed(self, force: bool = False) -> bool:
        """Load the index folder again if it changed; the swap is one assignment, so a request in
        flight finishes on the old index (its memory maps stay valid) and the next one sees the new.

        The folder is read under its writers' lock (:func:`~embedtune.index.lock.writers_excluded`), so a reload
        never sees an index half-way through an ``index add``/``delete``/``build``: a poll that finds
        a writer at work skips its turn; a forced reload waits up to ``RELOAD_LOCK_WAIT_S``."""
        with self._reload_lock:
            try:
                stamp = (0, 0) if self.settings.store is not None else _stamp(self.settings.index)
            except FileNotFoundError:
                return False  # mid-swap by an atomic save: try again on the next poll
            if not force and (stamp == self.state.stamp or (self._failed and self._failed[0] == stamp)):
                return False  # unchanged, or the same broken version as last time: stay quiet
            # A database store has no folder writers to exclude: its tables swap in one transaction.
            guard = (contextlib.nullcontext(True) if self.settings.store is not None
                     else writers_excluded(self.settings.index, RELOAD_LOCK_WAIT_S if force else 0))
            with guard as free:
                if not free:
                    return False
                try:
                    self.state = self._load(self.state)
                except Exception as exc:
                    self._log_failure(stamp, exc)
                    raise
            self._failed = None
            self.reloads += 1
            log.info("reloaded index %s (%d documents)", self.settings.index, len(self.state.index))
            return True

    def _log_failure(self, stamp: tuple[int, int], exc: Exception) -> None:
        """One line per broken index version (a traceback only for what is not a user error)."""
        if self._failed != (stamp, str(exc)):
            if isinstance(exc, EmbedtuneError):
                log.error("index reload failed, still serving the previous index: %s", exc)
            else:
                log.exception("index reload failed, still serving the previous index")
        self._failed = (stamp, str(exc))

    def run_batch(self, jobs: list[SearchJob | EmbedJob]) -> list[Any]:
        """One encoder call for every text in the batch; unfiltered searches share one index call.
        A job's own error (e.g. a bad filter) is returned in its place, not raised for the batch."""
        state = self.state
        texts: list[str] = []
        spans = []
        for job in jobs:
            start = len(texts)
            texts.extend([job.query] if isinstance(job, SearchJob) else job.texts)
            spans.append((start, len(texts)))
        vectors = state.encoder.encode(texts, batch_size=max(32, len(texts)))
        results: list[Any] = [None] * len(jobs)
        plain = [i for i, job in enumerate(jobs) if isinstance(job, SearchJob) and not job.filters]
        if plain:
            k_max = max(jobs[i].k for i in plain)
            hits = state.index.search(vectors[[spans[i][0] for i in plain]], k=k_max)
            for i, found in zip(plain, hits, strict=True):
                results[i] = found[: jobs[i].k]
        for i, job in enumerate(jobs):
            if isinstance(job, EmbedJob):
                results[i] = vectors[spans[i][0] : spans[i][1]]
            elif job.filters:
                try:
                    results[i] = state.index.search(vectors[spans[i][0] : spans[i][0] + 1], k=job.k, filters=job.filters)[0]
                except Exception as exc:
                    results[i] = exc
        return results

    @property
    def recommend_enabled(self) -> bool:
        manifest = self.state.index.manifest
        return manifest.kind == "recsys" and bool(manifest.data_dir)

    def recommender(self) -> Any:
        with self._recommender_lock:
            if self._recommender is None:
                from embedtune.base_model import resolve_model_path
                from embedtune.recsys.recommend import Recommender

                manifest = self.state.index.manifest
                self._recommender = Recommender(resolve_model_path(manifest.model), manifest.data_dir)
            return self._recommender
