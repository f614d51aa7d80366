"""Concurrent writers of one index: two `index add` processes at once both take effect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from embedtune.data import Document
from embedtune.index import VectorIndex

# Each writer encodes slowly, so without a lock both read the same old index before either saves
# and the second save drops the first one's documents (what happened before the lock).
WRITER = textwrap.dedent("""
    import sys, time, zlib
    import numpy as np
    from embedtune.index import add_to_index

    class SlowEncoder:
        backend, dim = "torch", 8

        def encode(self, texts, batch_size=32, show_progress=False):
            time.sleep(2.0)
            rows = [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(8) for t in texts]
            v = np.asarray(rows, dtype=np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    print(add_to_index(sys.argv[1], sys.argv[2], encoder=SlowEncoder(), show_progress=False))
""")


def _corpus(path: Path, prefix: str, n: int) -> Path:
    path.write_text("".join(json.dumps({"_id": f"{prefix}{i}", "text": f"{prefix} document {i}"}) + "\n" for i in range(n)))
    return path


def test_two_concurrent_adds_both_survive(tmp_path: Path):
    index_dir = tmp_path / "ix"
    v = np.eye(8, dtype=np.float32)[:2]
    VectorIndex.from_documents([Document(id="seed0", text="a"), Document(id="seed1", text="b")], v,
                               model="all-MiniLM-L6-v2", ann="none").save(index_dir)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [subprocess.Popen([sys.executable, str(script), str(index_dir), str(_corpus(tmp_path / f"{p}.jsonl", p, 10))],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in ("a", "b")]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "(10, 0)"
    index = VectorIndex.load(index_dir)
    assert len(index) == 22
    assert {f"{p}{i}" for p in "ab" for i in range(10)} | {"seed0", "seed1"} == set(index.id_to_row)
