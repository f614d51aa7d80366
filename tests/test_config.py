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


def test_bad_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("data: d\nepochs: 2\nlr: [1e-5\nseed: 3\n", encoding="utf-8")
    with pytest.raises(EmbedtuneError, match=r"r\.yaml:4: not valid YAML: .*expected ',' or ']'"):
        load_train_config(path)
    path.write_bytes(b"data: d\nbase_model: caf\xe9\n")
    with pytest.raises(EmbedtuneError, match=r"r\.yaml:2: not valid UTF-8"):
        load_train_config(path)


def test_one_loader_validates_any_model_and_names_each_bad_field(tmp_path):
    from pydantic import BaseModel, Field

    from embedtune.config import load_config
    from embedtune.recsys.config import RecsysConfig

    class Settings(BaseModel):
        name: str
        size: int = Field(1, ge=1)
        tags: dict[str, str] = {}

    path = tmp_path / "s.yaml"
    path.write_text("app:\n  name: x\n  size: 0\n", encoding="utf-8")
    with pytest.raises(EmbedtuneError) as caught:
        load_config(Settings, path, section="app", what="settings")
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid settings: ") and "size: Input should be greater" in message
    path.write_text("name: x\ntags: {a: '1'}\n", encoding="utf-8")
    merged = load_config(Settings, path, {"size": 3, "tags": {"b": "2", "a": None}, "name": None})
    assert (merged.name, merged.size, merged.tags) == ("x", 3, {"a": "1", "b": "2"})
    path.write_text("recsys:\n  hist_top_n: 0\n", encoding="utf-8")
    with pytest.raises(EmbedtuneError, match=r"s\.yaml: invalid recsys config: hist_top_n: Input should be greater"):
        load_config(RecsysConfig, path, section="recsys", what="recsys config")
