"""Atomic writes: a failure leaves the previous result intact and no temporary files behind."""

from __future__ import annotations

import pytest

from embedtune.fileio import atomic_dir, write_json_atomic


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
