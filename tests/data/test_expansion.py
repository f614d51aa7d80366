"""Training-query expansion: each document's real training queries, nothing for generated or missing ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from embedtune.bm25 import document_text
from embedtune.data.expansion import training_expansions


def test_each_document_gets_the_training_queries_that_judge_it(tiny_beir: Path):
    expansions = training_expansions(tiny_beir)
    # the tiny set trains on billing, sync and export: one question per passage; dev and test add nothing
    assert sorted(expansions) == sorted(f"{t}-{i}" for t in ("billing", "sync", "export") for i in range(3))
    assert expansions["billing-0"] == ["How do I update the credit card on my account?"]
    assert training_expansions(tiny_beir, ["billing-0", "security-0"]) == {
        "billing-0": ["How do I update the credit card on my account?"]}
    assert document_text("Open Settings.", expansions["billing-0"]) == (
        "Open Settings. How do I update the credit card on my account?")
    assert document_text("Open Settings.", None) == document_text("Open Settings.", []) == "Open Settings."


def test_generated_or_missing_training_queries_expand_nothing(tiny_beir: Path, tmp_path: Path):
    generated = tmp_path / "generated"
    shutil.copytree(tiny_beir, generated)
    manifest = generated / "embedtune.json"
    old = json.loads(manifest.read_text()) if manifest.is_file() else {}
    manifest.write_text(json.dumps({**old, "query_origin": {"train": "generated", "dev": "real", "test": "real"}}))
    assert training_expansions(generated) == {}
    no_train = tmp_path / "no-train"
    shutil.copytree(tiny_beir, no_train)
    (no_train / "qrels" / "train.tsv").unlink()
    assert training_expansions(no_train) == {}
    recsys = tmp_path / "recsys"
    shutil.copytree(tiny_beir, recsys)
    (recsys / "embedtune.json").write_text(json.dumps({"kind": "recsys"}))
    assert training_expansions(recsys) == {}
