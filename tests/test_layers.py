"""The layer contracts of ``[tool.importlinter]`` in pyproject.toml hold: imports point down only.

A broken contract fails with import-linter's report in the captured output: the layers involved and
each chain of imports, module by module with line numbers. Imports inside functions count too.
docs/architecture.md draws the same layers.
"""

from __future__ import annotations

import importlib.util
import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

import embedtune

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _contracts() -> dict[str, dict]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def test_import_contracts_are_kept():
    # The graph is built from the embedtune that this interpreter imports: this checkout's src/.
    assert Path(embedtune.__file__).resolve().parent == PYPROJECT.parent / "src" / "embedtune"
    assert lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True) == 0


@pytest.mark.parametrize("contract", [c for c in _contracts().values() if c["type"] == "layers"], ids=lambda c: c["id"])
def test_every_module_of_a_layered_package_has_a_layer(contract: dict):
    # A module outside every layer would escape the contract: name each new one in pyproject.toml.
    named = {name.strip() for layer in contract["layers"] for name in re.split(r"[|:]", layer)}
    for container in contract["containers"]:
        folders = importlib.util.find_spec(container).submodule_search_locations  # found, not imported (no torch)
        modules = {module.name for module in pkgutil.iter_modules(folders)} - {"__main__"}
        assert sorted(modules - named) == [], f"{container}: modules in no layer of {contract['id']!r}"
        assert sorted(named - modules) == [], f"{container}: layers of {contract['id']!r} name no module"


def test_the_command_line_and_the_serving_path_load_without_torch():
    # `embedtune --help` and a server on an ONNX backend must not pay torch's import (seconds on a CPU):
    # torch loads lazily, in the functions that train or encode with it.
    modules = ["embedtune.cli", "embedtune.index", "embedtune.serve.app", "embedtune.fusion", "embedtune.metrics",
               "embedtune.encoders", "embedtune.dense", "embedtune.data"]
    code = f"import importlib, sys; [importlib.import_module(m) for m in {modules!r}]; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
