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
from embedtune.index.hybrid import ModeChoice, choose_mode, no_lexical_reason
from embedtune.index.hybrid import search as search_mode
from embedtune.serve.settings import ServeSettings

log = logging.getLogger(__name__)


@dataclass
class SearchJob:
    query: str
    k: int
    filters: dict[str, Any] | None
    mode: str | None = None  # None: the index's default (ModeChoice)


class ModeUnavailable(EmbedtuneError):
    """A search mode the index being served cannot answer (no lexical part)."""


@dataclass
class EmbedJob:
    texts: list[str]


@dataclass
class _Loaded:
    index: VectorIndex
    encoder: Any
    stamp: tuple[int, int]
    loaded_at: str
    modes: ModeChoice
    recommend_modes: Any = None  # a recsys index: embedtune.recsys.recommend.RecommendModes


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
        self._recommender: tuple[_Loaded, Any] | None = None  # the recommender of one loaded state
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
        modes = choose_mode(index, self.settings.mode)
        _warm(index, modes)
        log.info("default search mode %s: %s", modes.default, modes.reason)
        recommend_modes = _recommend_modes(index)
        if recommend_modes is not None:
            log.info("default recommend mode %s: %s", recommend_modes.default, recommend_modes.reason)
        return _Loaded(index=index, encoder=encoder, stamp=stamp, loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
                       modes=modes, recommend_modes=recommend_modes)

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

    def mode_of(self, job: SearchJob, state: _Loaded | None = None) -> str:
        """The mode ``job`` runs in on ``state``; :class:`ModeUnavailable` if that index cannot answer it."""
        choice = (state or self.state).modes
        mode = job.mode or choice.default
        if mode not in choice.modes:
            raise ModeUnavailable(f"mode {mode!r} is not available: {no_lexical_reason((state or self.state).index)}")
        return mode

    def run_batch(self, jobs: list[SearchJob | EmbedJob]) -> list[Any]:
        """One encoder call for every text in the batch (lexical searches need none); unfiltered searches of
        one mode share one index call. A job's own error (a bad filter, a mode the index lacks) is returned
        in its place, not raised for the batch."""
        state = self.state
        results: list[Any] = [None] * len(jobs)
        modes: dict[int, str] = {}
        for i, job in enumerate(jobs):
            if isinstance(job, SearchJob):
                try:
                    modes[i] = self.mode_of(job, state)
                except ModeUnavailable as exc:
                    results[i] = exc
        texts: list[str] = []
        spans: dict[int, tuple[int, int]] = {}
        for i, job in enumerate(jobs):
            if isinstance(job, EmbedJob) or modes.get(i) in ("dense", "hybrid"):
                start = len(texts)
                texts.extend([job.query] if isinstance(job, SearchJob) else job.texts)
                spans[i] = (start, len(texts))
        vectors = state.encoder.encode(texts, batch_size=max(32, len(texts))) if texts else None

        def run(group: list[int], k: int, filters: dict[str, Any] | None) -> list[Any]:
            searches = [jobs[i] for i in group]
            mode = modes[group[0]]
            vecs = vectors[[spans[i][0] for i in group]] if mode != "lexical" and vectors is not None else None
            return search_mode(state.index, [j.query for j in searches], vecs, k, mode,  # type: ignore[union-attr]
                               fusion=state.modes.fusion, filters=filters)

        for mode in set(modes.values()):
            plain = [i for i, m in modes.items() if m == mode and not jobs[i].filters]  # type: ignore[union-attr]
            if plain:
                k_max = max(jobs[i].k for i in plain)  # type: ignore[union-attr]
                for i, found in zip(plain, run(plain, k_max, None), strict=True):
                    results[i] = found[: jobs[i].k]  # type: ignore[union-attr]
        for i, job in enumerate(jobs):
            if isinstance(job, EmbedJob):
                start, end = spans[i]
                results[i] = vectors[start:end]  # type: ignore[index]
            elif i in modes and job.filters:
                try:
                    results[i] = run([i], job.k, job.filters)[0]
                except Exception as exc:
                    results[i] = exc
        return results

    @property
    def recommend_enabled(self) -> bool:
        manifest = self.state.index.manifest
        return manifest.kind == "recsys" and bool(manifest.data_dir)

    def recommender(self) -> Any:
        """The recommender of the index being served: its item vectors, its statistics, and the encoder this
        server runs (``--backend``); made on first use and again after a reload."""
        state = self.state
        with self._recommender_lock:
            if self._recommender is None or self._recommender[0] is not state:
                from embedtune.recsys.recommend import Recommender

                recommender = Recommender.from_index(state.index, encoder=state.encoder)
                recommender.warm()
                self._recommender = (state, recommender)
            return self._recommender[1]


def _recommend_modes(index: Any) -> Any:
    """For an index built from a recsys DATA_DIR: its default recommend mode and why (``/health``); else None."""
    manifest = index.manifest
    if manifest.kind != "recsys" or not manifest.data_dir:
        return None
    from embedtune.recsys.recommend import recommend_modes_of_index

    return recommend_modes_of_index(index)


def _warm(index: Any, modes: ModeChoice) -> None:
    """Pay one-off costs at load, not on the first request: the id order that settles ties (an index folder),
    and (for hybrid) ranx's numba compilation, a second or more in a fresh process."""
    if isinstance(index, VectorIndex):
        index.id_order()
    if index.lexical is not None:
        from embedtune.fusion import fuse_runs

        fuse_runs(modes.fusion, {p: {"warm-up": [("a", 1.0), ("b", 0.5)]} for p in modes.fusion.parts}, k=1, cold=())
