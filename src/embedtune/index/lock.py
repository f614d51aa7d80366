"""One writer at a time per index, and readers that never see a half-written one.

Writers (``index build``, ``index add``, ``index delete``, :meth:`VectorIndex.save`) hold
:func:`index_lock` from loading the index to saving it, so concurrent updates all take effect, one
after the other. A reader that must not see an index mid-update (the server's hot reload) reads it
inside :func:`writers_excluded`. The lock is :func:`embedtune.fileio.dir_lock`: a ``filelock`` file
``.embedtune.INDEX.lock`` beside the folder (the folder itself is replaced whole on every save).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from embedtune.errors import EmbedtuneError
from embedtune.fileio import dir_lock


def index_lock(index_dir: str | Path):
    """The writers' lock of the index folder ``index_dir`` (re-entrant within a thread)."""
    return dir_lock(index_dir)


@contextlib.contextmanager
def writers_excluded(index_dir: str | Path, wait_s: float) -> Iterator[bool]:
    """Hold the index's writer lock while reading it; yields False if a writer keeps it and
    ``wait_s`` is 0, and raises :class:`EmbedtuneError` if a writer keeps it longer than a positive
    ``wait_s``. An index in a folder this process may not write to (no lock file possible) has no
    writers to wait for: yields True without the lock."""
    from filelock import Timeout

    try:
        lock = index_lock(index_dir)
        lock.acquire(timeout=wait_s)
    except Timeout:
        if wait_s:
            raise EmbedtuneError(f"{index_dir} is being written (locked for over {wait_s:g} s); try again") from None
        yield False
        return
    except OSError:  # read-only location
        yield True
        return
    try:
        yield True
    finally:
        lock.release()
