"""Every field of a config that a command fills is reachable from its flags, documented, and really wired.

A field added to TrainConfig, RecsysConfig, SiteBuildOptions or ServeSettings without a description, or
(for the last three) without a flag here, fails these tests; a field that is deliberately no flag is
listed below with the reason.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import pytest
import typer
from pydantic import BaseModel
from typer.testing import CliRunner

from embedtune.cli import app
from embedtune.config import TrainConfig
from embedtune.recsys.config import RecsysConfig
from embedtune.serve.settings import ServeSettings
from embedtune.site import SiteBuildOptions

#: Flags of `embedtune train` before they were derived from TrainConfig: they must keep working.
TRAIN_FLAGS_BEFORE = [
    "--data", "-d", "--output", "-o", "--base-model", "--epochs", "--batch-size", "--mini-batch-size", "--lr",
    "--max-seq-length", "--seed", "--hard-negatives", "--max-pairs", "--logq-correction", "--keep", "--merge-base",
    "--precision", "--attention-dropout", "--group-by-length", "--no-group-by-length", "--checkpoint-steps",
    "--resume", "--nproc", "--force", "--overwrite", "--quiet", "-q",
]
RECSYS_NOT_FLAGS = {
    "user_template": "a multi-line Jinja template: set it in the --config YAML (docs/recsys.md)",
    "item_template": "a multi-line Jinja template: set it in the --config YAML (docs/recsys.md)",
}
#: Flags whose name is not the field's (kept from before the check existed), field → flag.
RENAMED = {
    "recsys build": {"category_separator": "--category-sep", "exclude_history": "--keep-history"},
    "site build": {"dedupe": "--no-dedupe"},
    "serve": {"cors_origins": "--cors", "reload_poll_s": "--reload-poll"},
}

#: Flags that take another form than the field's YAML value, so their help says how to write it.
OWN_HELP = {
    "recsys build": {"event_map": "'0=click,2=buy' on the command line, a mapping in YAML"},
    "site build": {"generators": "comma-separated, and the help lists the registered generator names"},
}


class Captured(Exception):
    """Raised in place of the command's real work, carrying the config it was about to use."""

    def __init__(self, config: Any) -> None:
        self.config = config


def command(path: str) -> Any:
    cmd: Any = typer.main.get_command(app)
    for name in path.split():
        cmd = cmd.commands[name]
    return cmd


def options(path: str) -> dict[str, Any]:
    """Every flag string of a command (``--x``, ``--no-x``, ``-x``) → its click option."""
    flags = {flag: p for p in command(path).params if p.param_type_name == "option"
             for flag in (*p.opts, *p.secondary_opts)}
    assert "--help" not in flags and len(flags) > 5  # click adds --help later; an empty dict would check nothing
    return flags


def capture(monkeypatch: pytest.MonkeyPatch, target: str, args: list[str], pick=lambda *a, **kw: a) -> Any:
    """Run ``embedtune ARGS`` with ``target`` (module:attribute) replaced; return what it was called with."""
    module, attribute = target.split(":")

    def stand_in(*a: Any, **kw: Any) -> None:
        raise Captured(pick(*a, **kw))

    monkeypatch.setattr(f"{module}.{attribute}", stand_in)
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, Captured), (result.output, result.exception)
    return result.exception.config


@pytest.mark.parametrize("model", [TrainConfig, RecsysConfig, SiteBuildOptions, ServeSettings])
def test_every_field_is_documented(model: type[BaseModel]):
    undocumented = [name for name, field in model.model_fields.items() if not (field.description or "").strip()]
    assert not undocumented, f"{model.__name__}: add a description (it is the flag's --help) to {undocumented}"


@pytest.mark.parametrize(("path", "model"), [("recsys build", RecsysConfig), ("site build", SiteBuildOptions),
                                             ("serve", ServeSettings), ("train", TrainConfig)])
def test_a_flag_named_after_a_field_shows_the_fields_description(path: str, model: type[BaseModel]):
    named = {f"--{name.replace('_', '-')}": name for name in model.model_fields}
    named.update({flag: name for name, flag in RENAMED.get(path, {}).items()})
    flags = options(path)
    for flag, name in named.items():
        if flag in flags and flag not in RENAMED.get(path, {}).values() and name not in OWN_HELP.get(path, {}):
            assert flags[flag].help == model.model_fields[name].description, flag
    assert all(flags[flag].help for flag in flags), "every flag has help"


# ---- embedtune train: one flag per TrainConfig field (derived), each checked by running the command ----

def _changed(name: str, default: Any, annotation: Any, tmp_path: Path) -> Any:
    """A valid value for a TrainConfig field that differs from its default."""
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) is Literal:
        return [v for v in get_args(annotation) if v != default][-1]  # the last: logq "off" fits mini_batch_size
    if get_origin(annotation) is list:
        return [tmp_path / f"{name}-1", tmp_path / f"{name}-2"]
    if annotation is bool:
        return not default
    if annotation is int:
        return 2 if default is None else default + 1
    if annotation is float:
        return 0.25 if not default else default / 2
    if annotation is Path:
        return tmp_path / name
    if annotation is str:
        return f"{default}-changed"
    raise AssertionError(f"TrainConfig.{name}: teach this test a value of type {annotation!r}")


def test_every_train_config_field_is_a_flag_that_reaches_the_config(monkeypatch, tmp_path: Path):
    flags = options("train")
    args, expected = ["train", "-q"], {}
    for name, field in TrainConfig.model_fields.items():
        value = _changed(name, field.default, field.annotation, tmp_path)
        expected[name] = value
        flag = next((f for f, opt in flags.items() if opt.name == name), None)
        assert flag is not None, f"TrainConfig.{name} has no flag"
        option = flags[flag]
        if isinstance(value, bool):
            args.append((option.opts if value else option.secondary_opts)[0])
        else:
            for item in value if isinstance(value, list) else [value]:
                args += [option.opts[0], str(item)]
    cfg = capture(monkeypatch, "embedtune.training:train", args)[0]
    assert isinstance(cfg, TrainConfig)
    assert {name: getattr(cfg, name) for name in expected} == expected
    assert cfg.model_fields_set == set(TrainConfig.model_fields)


def test_train_flags_not_given_leave_the_recipe_and_the_defaults(monkeypatch, tmp_path: Path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("data: d\noutput: o\nepochs: 5\nno_duplicates: false\n", encoding="utf-8")
    cfg = capture(monkeypatch, "embedtune.training:train", ["train", str(recipe), "--lr", "1e-4", "-q"])[0]
    assert (cfg.epochs, cfg.no_duplicates, cfg.lr, cfg.batch_size) == (5, False, 1e-4, TrainConfig().batch_size)
    assert cfg.model_fields_set == {"data", "output", "epochs", "no_duplicates", "lr"}  # what data/recommended.py needs


def test_train_keeps_its_earlier_flags_and_checks_values_like_a_config_file():
    flags = options("train")
    assert [f for f in TRAIN_FLAGS_BEFORE if f not in flags] == []
    assert flags["--resume"].name == "resume" and flags["-d"].multiple
    result = CliRunner().invoke(app, ["train", "--data", "d", "-o", "o", "--keep", "worst"])
    assert result.exit_code != 0 and "keep: Input should be 'best' or 'last'" in str(result.exception)


# ---- commands with hand-written flags: field → (the flags, the value the field must get) ----

def _check_table(model: type[BaseModel], table: dict[str, tuple[list[str], Any]], not_flags: dict[str, str],
                 path: str, config: Any) -> None:
    """Every field of ``model`` is in ``table`` or ``not_flags``; each table row's flag set ``config``'s field."""
    missing = set(model.model_fields) - set(table) - set(not_flags)
    assert not missing, f"{model.__name__} fields {sorted(missing)}: give `embedtune {path}` a flag (and add it " \
                        "to this test's table), or list the field in the *_NOT_FLAGS dict with the reason"
    flags = options(path)
    for name, (args, value) in table.items():
        assert not args[0].startswith("-") or args[0] in flags, f"{args[0]} is not a flag of `embedtune {path}`"
        got = config(name) if callable(config) else getattr(config, name)
        assert (got.get_secret_value() if hasattr(got, "get_secret_value") else got) == value, name


def test_every_recsys_config_field_is_reachable(monkeypatch, tmp_path: Path):
    table: dict[str, tuple[list[str], Any]] = {
        "columns": (["--user-column", "u", "--item-column", "i", "--time-column", "t", "--event-column", "e",
                     "--rating-column", "r"], {"user": "u", "item": "i", "time": "t", "event": "e", "rating": "r"}),
        "item_columns": (["--catalog-item-column", "ci", "--category-column", "c", "--shop-column", "s",
                          "--brand-column", "b", "--title-column", "ti", "--description-column", "d"],
                         {"item": "ci", "category": "c", "shop": "s", "brand": "b", "title": "ti", "description": "d"}),
        "user_columns": (["--users-user-column", "uu"], {"user": "uu"}),
        "event_map": (["--event-map", "0=click, 2=buy"], {"0": "click", "2": "buy"}),
        "category_separator": (["--category-sep", "|"], "|"),
        "no_time": (["--no-time"], True),
        "hist_top_n": (["--hist-top-n", "7"], 7),
        "hist_mode": (["--hist-mode", "last"], "last"),
        "recency_decay": (["--recency-decay", "0.5"], 0.5),
        "history_window": (["--history-window", "9"], 9),
        "hist_items": (["--hist-items", "0"], 0),
        "description_chars": (["--description-chars", "80"], 80),
        "split": (["--split", "time_cut"], "time_cut"),
        "time_cut": (["--time-cut", "2024-01-01"], "2024-01-01"),
        "k_core": (["--k-core", "3"], 3),
        "max_train_per_user": (["--max-train-per-user", "4"], 4),
        "exclude_history": (["--keep-history"], False),
        "cold_threshold": (["--cold-threshold", "2"], 2),
    }
    args = ["recsys", "build", "--log", "l.csv", "--items", "i.csv", "-o", str(tmp_path / "out")]
    settings = capture(monkeypatch, "embedtune.recsys.build:build_recsys", args + [a for a, _ in table.values() for a in a])[4]
    _check_table(RecsysConfig, table, RECSYS_NOT_FLAGS, "recsys build", settings)


def test_every_site_build_option_is_reachable(monkeypatch, tmp_path: Path):
    table: dict[str, tuple[list[str], Any]] = {
        "url": (["--url", "https://x.test/"], "https://x.test/"),
        "max_pages": (["--max-pages", "9"], 9),
        "max_depth": (["--max-depth", "0"], 0),
        "rate": (["--rate", "0.5"], 0.5),
        "timeout": (["--timeout", "3"], 3.0),
        "max_page_bytes": (["--max-page-bytes", "4096"], 4096),
        "follow_links": (["--follow-links"], True),
        "base_model": (["--base-model", "other"], "other"),
        "max_tokens": (["--max-tokens", "64"], 64),
        "dedupe": (["--no-dedupe"], False),
        "near_duplicate_threshold": (["--near-duplicate-threshold", "0.9"], 0.9),
        "generators": (["--generators", "cloze,headings"], ["cloze", "headings"]),
        "max_queries_per_passage": (["--max-queries-per-passage", "2"], 2),
        "max_train_pairs": (["--max-train-pairs", "100"], 100),
        "questions": (["--questions", "q.jsonl"], Path("q.jsonl")),
        "search_log": (["--search-log", "s.csv"], Path("s.csv")),
        "real_train_fraction": (["--real-train-fraction", "0.6"], 0.6),
        "real_dev_fraction": (["--real-dev-fraction", "0.1"], 0.1),
        "dev_fraction": (["--dev-fraction", "0.2"], 0.2),
        "max_dev_passages": (["--max-dev-passages", "5"], 5),
        "llm_url": (["--llm-url", "http://llm.test/v1"], "http://llm.test/v1"),
        "llm_model": (["--llm-model", "m"], "m"),
        "seed": (["--seed", "7"], 7),
    }
    args = ["site", "build", "pages", "-o", str(tmp_path / "out")]
    options_given = capture(monkeypatch, "embedtune.cli.site:build_site_dataset",
                            args + [a for a, _ in table.values() for a in a])[2]
    _check_table(SiteBuildOptions, table, {}, "site build", options_given)


def test_every_serve_setting_is_reachable_and_the_environment_fills_the_rest(monkeypatch, tmp_path: Path):
    table: dict[str, tuple[list[str], Any]] = {
        "index": ([str(tmp_path / "index")], tmp_path / "index"),
        "table": (["--table", "docs"], "docs"),
        "backend": (["--backend", "onnx"], "onnx"),
        "api_key": (["--api-key", "k3y"], "k3y"),
        "cors_origins": (["--cors", "https://a.test", "--cors", "*"], ["https://a.test", "*"]),
        "max_body_bytes": (["--max-body-bytes", "2048"], 2048),
        "max_batch": (["--max-batch", "8"], 8),
        "batch_wait_ms": (["--batch-wait-ms", "1.5"], 1.5),
        "reload_poll_s": (["--reload-poll", "0"], 0.0),
        "mode": (["--mode", "lexical"], "lexical"),
        "threads": (["--threads", "2"], 2),
        "title": (["--title", "Docs search"], "Docs search"),
    }
    settings = capture(monkeypatch, "embedtune.serve.app:create_app",
                       ["serve", *(a for a, _ in table.values() for a in a)])[0]
    store = "postgresql://me:s3cret@db.test/shop"
    table["store"] = (["--store", store], store)  # instead of INDEX, so in a run of its own
    with_store = capture(monkeypatch, "embedtune.serve.app:create_app", ["serve", "--store", store])[0]
    assert with_store.index is None
    _check_table(ServeSettings, table, {}, "serve", lambda name: getattr(with_store if name == "store" else settings, name))

    monkeypatch.setenv("EMBEDTUNE_MAX_BATCH", "5")
    monkeypatch.setenv("EMBEDTUNE_TITLE", "from the environment")
    from_env = capture(monkeypatch, "embedtune.serve.app:create_app", ["serve", str(tmp_path), "--title", "flag"])[0]
    assert (from_env.max_batch, from_env.title, from_env.reload_poll_s) == (5, "flag", 2.0)
