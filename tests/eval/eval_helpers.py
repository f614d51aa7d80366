"""Helpers shared by the evaluation tests (importable, unlike conftest)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path


def poisoned_copy(data: Path, folder: Path, seed: int = 0) -> Path:
    """A copy of the BEIR folder ``data`` at ``folder`` whose test qrels point every query at a random document."""
    shutil.copytree(data, folder)
    docs = [json.loads(line)["_id"] for line in (folder / "corpus.jsonl").read_text().splitlines()]
    rows = (folder / "qrels" / "test.tsv").read_text().splitlines()
    rng = random.Random(seed)
    (folder / "qrels" / "test.tsv").write_text(
        "\n".join([rows[0]] + [f"{r.split(chr(9))[0]}\t{rng.choice(docs)}\t1" for r in rows[1:]]) + "\n")
    return folder
