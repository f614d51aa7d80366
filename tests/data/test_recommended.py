"""A DATA_DIR's recommended training settings fill what the user left unset, never what they gave."""

from __future__ import annotations

import json

from embedtune.config import load_train_config
from embedtune.data.recommended import apply_recommended_training


def test_recommendations_fill_unset_settings_only(tiny_beir, tmp_path):
    manifest = json.loads((tiny_beir / "embedtune.json").read_text())
    manifest["recommended_training"] = {"hard_negatives": 1, "merge_base": 0.5}
    (tiny_beir / "embedtune.json").write_text(json.dumps(manifest))
    said = []
    config = load_train_config(data=[str(tiny_beir)], output=str(tmp_path / "m"), hard_negatives=0)
    config = apply_recommended_training(config, said.append)
    assert (config.hard_negatives, config.merge_base) == (0, 0.5)  # the flag wins; the rest is recommended
    assert said == [f"settings recommended by {tiny_beir} (embedtune.json): merge_base=0.5 (override with the "
                    "matching flag)"]
    plain = load_train_config(data=[str(tmp_path / "pairs.jsonl")], output=str(tmp_path / "m"))
    assert apply_recommended_training(plain, said.append) is plain
