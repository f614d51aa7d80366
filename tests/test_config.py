from __future__ import annotations

import pytest

from embedtune.config import TrainConfig, load_train_config
from embedtune.errors import EmbedtuneError


def test_defaults_are_documented_seed_values():
    cfg = TrainConfig()
    assert (cfg.lr, cfg.seed, cfg.batch_size, cfg.lr_scheduler, cfg.scale) == (5e-5, 42, 32, "linear", 20.0)
    assert cfg.no_duplicates and cfg.multi_dataset_sampler == "round_robin"


def test_flags_override_file(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("data: d\noutput: o\nepochs: 5\nbatch_size: 64\n", encoding="utf-8")
    cfg = load_train_config(path, epochs=2, lr=None)
    assert cfg.epochs == 2 and cfg.batch_size == 64 and str(cfg.data[0]) == "d"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("epochs: 0\n", "epochs"), ("batch_size: lots\n", "batch_size"), ("learning_rate: 1\n", "learning_rate"),
     ("- a\n- b\n", "mapping"), ("epochs: [\n", "not valid YAML")],
)
def test_bad_config_is_a_clear_error(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EmbedtuneError, match=fragment):
        load_train_config(path)


def test_recipes_are_valid():
    from pathlib import Path

    recipes = sorted(Path(__file__).parent.parent.joinpath("recipes").glob("*.yaml"))
    assert {p.name for p in recipes} >= {"seed-recsys.yaml", "seed-site.yaml"}
    seed_recsys = load_train_config(recipes[[p.name for p in recipes].index("seed-recsys.yaml")])
    assert (seed_recsys.batch_size, seed_recsys.epochs) == (256, 100)
