from __future__ import annotations

import shutil

import pytest

from embedtune.base_model import (
    BUNDLED_SHA256,
    bundled_model_dir,
    load_tokenizer,
    model_fingerprint,
    resolve_model_path,
    verify_weights,
)
from embedtune.errors import EmbedtuneError


def test_bundled_model_resolves_and_is_verified():
    folder = resolve_model_path("all-MiniLM-L6-v2")
    assert (folder / "model.safetensors").is_file()
    assert resolve_model_path("sentence-transformers/all-MiniLM-L6-v2") == folder


def test_hash_mismatch_is_a_clear_error(tmp_path):
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"not the weights")
    with pytest.raises(EmbedtuneError, match="sha256 does not match"):
        verify_weights(fake, BUNDLED_SHA256)


def test_local_folders_must_hold_safetensors(tmp_path):
    with pytest.raises(EmbedtuneError, match="not found"):
        resolve_model_path(tmp_path / "nope")
    folder = tmp_path / "m"
    shutil.copytree(bundled_model_dir(), folder, ignore=shutil.ignore_patterns("*.safetensors"))
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(EmbedtuneError, match="only safetensors"):
        resolve_model_path(folder)


def test_tokenizer_loads_from_a_folder_without_weights(tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(bundled_model_dir(), folder, ignore=shutil.ignore_patterns("*.safetensors"))
    assert load_tokenizer(folder)("a b c")["input_ids"] == load_tokenizer("all-MiniLM-L6-v2")("a b c")["input_ids"]
    with pytest.raises(EmbedtuneError, match="not found"):
        load_tokenizer(tmp_path / "nope")


def test_model_fingerprint_follows_what_the_model_computes(tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(bundled_model_dir(), folder)
    key = model_fingerprint(folder)
    assert model_fingerprint(resolve_model_path("all-MiniLM-L6-v2")) == key  # a copy: same content, same key
    (folder / "eval.json").write_text("{}")  # re-evaluating a run keeps its key
    (folder / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    (folder / "checkpoints" / "checkpoint-1" / "model.safetensors").write_bytes(b"x")
    assert model_fingerprint(folder) == key
    (folder / "tokenizer_config.json").write_text("{}")  # a changed tokenizer is another model
    assert model_fingerprint(folder) != key


def test_a_model_folder_left_mid_swap_is_put_back(tmp_path):
    """A train or merge killed between the two renames of its folder swap leaves the previous model
    as .NAME.*.old; loading the model by its path restores it."""
    import shutil

    from embedtune.base_model import bundled_model_dir, resolve_model_path

    shutil.copytree(bundled_model_dir(), tmp_path / ".model.x1.old")
    assert resolve_model_path(tmp_path / "model") == tmp_path / "model"
    assert (tmp_path / "model" / "model.safetensors").is_file()
