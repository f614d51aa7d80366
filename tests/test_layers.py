"""The layer contracts of ``[tool.importlinter]`` in pyproject.toml hold: imports point down only.

A broken contract fails with import-linter's report in the captured output: the layers involved and
each chain of imports, module by module with line numbers. Imports inside functions count too.
docs/architecture.md draws the same layers.
"""

from __future__ import annotations

import importlib.util
import pkgutil
import re
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
