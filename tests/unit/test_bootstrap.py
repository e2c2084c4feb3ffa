"""What the start scripts check before anything else: every runtime dependency, with nothing
but the standard library."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

import pytest

from common.bootstrap import PROJECT_ROOT, REQUIRED_MODULES, missing_module


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_runtime_dependency_is_checked_by_one_of_its_modules() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        normalise(re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0])
        for spec in project["dependencies"]
    }
    distributions = packages_distributions()
    checked = {
        normalise(dist) for module in REQUIRED_MODULES for dist in distributions.get(module, [])
    }
    assert declared - checked == set(), "add a module of each to REQUIRED_MODULES"


def test_this_environment_has_them_all() -> None:
    assert missing_module() is None
    assert missing_module(("json", "surely_no_such_module_here")) == "surely_no_such_module_here"


@pytest.mark.parametrize("module", ["__init__.py", "bootstrap.py"])
def test_the_bootstrap_imports_only_the_standard_library(module: str) -> None:
    """``common/__init__.py`` too: importing ``common.bootstrap`` runs it first."""
    tree = ast.parse((PROJECT_ROOT / "common" / module).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported - {"__future__"} <= sys.stdlib_module_names
