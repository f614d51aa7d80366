"""Atomic writes: a failure leaves the previous result intact and no temporary files behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from embedtune.data import Document
from embedtune.fileio import atomic_dir, write_json_atomic
from embedtune.index import VectorIndex


def test_atomic_dir_failure_keeps_previous_output(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("first", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("second", encoding="utf-8")
        raise RuntimeError("crash mid-write")
    assert (out / "a.txt").read_text(encoding="utf-8") == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".embedtune.out.lock", "out"]  # the writers' lock stays


def test_atomic_dir_replaces_whole_folder(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        (tmp / "old.txt").write_text("x", encoding="utf-8")
    with atomic_dir(out) as tmp:
        (tmp / "new.txt").write_text("y", encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]


def test_write_json_rejects_nan_without_leaving_a_file(tmp_path):
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "x.json", {"v": float("nan")})
    assert list(tmp_path.iterdir()) == []


# ---- the swap survives a kill -9 at its worst moment ---------------------------------------------
KILLER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from embedtune import fileio
    from embedtune.data import Document
    from embedtune.index import VectorIndex

    path, mode = sys.argv[1], sys.argv[2]
    real_replace, real_exchange = os.replace, fileio._exchange

    def replace_then_die(src, dst):
        real_replace(src, dst)
        if str(src) == path:  # the old folder was just renamed away: die before the new one is in
            os.kill(os.getpid(), signal.SIGKILL)

    def exchange_then_die(a, b):
        assert real_exchange(a, b)
        os.kill(os.getpid(), signal.SIGKILL)  # swapped; the previous version is not removed yet

    if mode == "two-renames":
        fileio._exchange = lambda a, b: False  # a system without an atomic exchange
        fileio.os.replace = replace_then_die
    else:
        fileio._exchange = exchange_then_die
    index = VectorIndex.load(path)
    index.add([Document(id="new", text="added")], np.eye(4, dtype=np.float32)[2:3])
    index.save(path)
""")


def _killed_save(tmp_path: Path, mode: str) -> Path:
    path = tmp_path / "ix"
    VectorIndex.from_documents([Document(id="a", text="a"), Document(id="b", text="b")], np.eye(4, dtype=np.float32)[:2],
                               model="all-MiniLM-L6-v2", ann="none").save(path)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, str(script), str(path), mode], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return path


def test_a_kill_between_the_two_renames_leaves_the_previous_version_reachable(tmp_path: Path):
    path = _killed_save(tmp_path, "two-renames")
    assert not path.exists() and list(tmp_path.glob(".ix.*.old"))  # the crash window, as the kill left it
    index = VectorIndex.load(path)  # the reader puts the previous version back
    assert sorted(index.id_to_row) == ["a", "b"]
    assert not list(tmp_path.glob(".ix.*.old"))
    index.add([Document(id="c", text="c")], np.eye(4, dtype=np.float32)[3:4])
    index.save(path)  # and the next save cleans up what the killed one left
    assert sorted(VectorIndex.load(path).id_to_row) == ["a", "b", "c"]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith((".py", ".lock"))) == ["ix"]


def test_a_kill_right_after_the_atomic_exchange_leaves_the_new_version(tmp_path: Path):
    path = _killed_save(tmp_path, "exchange")
    assert sorted(VectorIndex.load(path).id_to_row) == ["a", "b", "new"]
    assert list(tmp_path.glob(".ix.*.new"))  # the previous version, not yet removed
    with atomic_dir(path) as tmp:
        (tmp / "index.json").write_text("{}")
    assert not list(tmp_path.glob(".ix.*.new"))


def test_the_new_folder_is_on_disk_before_it_is_published(tmp_path: Path, monkeypatch):
    synced: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd))

    def replace(src, dst):
        if Path(dst) == tmp_path / "out":
            assert any(s.endswith("/a.txt") for s in synced) and any(s.endswith("/sub/b.txt") for s in synced)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "a.txt").write_text("a")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.txt").write_text("b")
    assert (tmp_path / "out" / "sub" / "b.txt").read_text() == "b"
