"""Training settings a DATA_DIR recommends for itself (``embedtune.json`` → ``recommended_training``).

``embedtune site build`` writes the settings that its benchmarks found best for training on generated
queries (a mined hard negative, weights merged 0.5 with the base model: docs/benchmarks.md, "Site"),
and ``embedtune train`` applies them to every setting the user did not give (flag or YAML). So
``site build`` + ``train`` run the measured recipe by default, and each setting stays one flag away::

    embedtune train --data data/site --output runs/site --hard-negatives 0 --merge-base 1   # the old recipe
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from embedtune.data.beir import is_beir_dir, read_manifest

KEY = "recommended_training"


def recommended_training(data: str | Path) -> dict[str, Any]:
    """The settings a DATA_DIR recommends; empty for pairs files and folders that recommend nothing."""
    if not is_beir_dir(data):
        return {}
    return dict(read_manifest(data).get(KEY) or {})


def apply_recommended_training(config, echo: Callable[[str], Any] = print):
    """``config`` with the first DATA_DIR's recommendations for the fields the user left unset."""
    if not config.data:
        return config
    recommended = recommended_training(config.data[0])
    update = {k: v for k, v in recommended.items() if k in type(config).model_fields and k not in config.model_fields_set}
    if not update:
        return config
    echo(f"settings recommended by {config.data[0]} (embedtune.json): "
         + ", ".join(f"{k}={v}" for k, v in update.items()) + " (override with the matching flag)")
    values = {**config.model_dump(include=config.model_fields_set), **update}
    return type(config)(**values)
