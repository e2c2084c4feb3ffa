"""The packages' layers, read from the source: ``common/`` is the ground floor, and tests share
code through ``tests/support/``, never by importing one another.

Every import counts, including the ones inside functions, which hide a dependency from a reader
of the module's head.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ABOVE_COMMON = {"auth_service", "books_service", "web_service", "ops", "bench", "tests"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module an ``import`` or ``from … import`` names in ``path``, with its line; for
    ``from package import name`` both ``package`` and ``package.name`` (which may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return sorted(found)


def test_imported_modules_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "import os\n"
        "def f():\n"
        "    from auth_service.config import AuthSettings\n"
        "    import books_service.app\n"
        "from tests.integration import test_keys\n"
    )
    assert imported_modules(source) == [
        (1, "os"),
        (3, "auth_service.config"),
        (3, "auth_service.config.AuthSettings"),
        (4, "books_service.app"),
        (5, "tests.integration"),
        (5, "tests.integration.test_keys"),
    ]


def test_common_imports_no_service_and_no_operator_command() -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted((ROOT / "common").glob("**/*.py"))
        for line, module in imported_modules(path)
        if module.split(".")[0] in ABOVE_COMMON
    ]
    assert not offending, "common/ must not import a service or ops:\n" + "\n".join(offending)


def is_test_module(module: str) -> bool:
    """``tests.….test_x`` or a ``conftest``: modules pytest collects, not libraries."""
    parts = module.split(".")
    return parts[0] == "tests" and (parts[-1].startswith("test_") or parts[-1] == "conftest")


def test_is_test_module_tells_tests_from_support() -> None:
    assert is_test_module("tests.integration.test_token_security")
    assert is_test_module("tests.conftest")
    assert not is_test_module("tests.support.harness")
    assert not is_test_module("test_helpers")  # not ours: a third-party name


def test_no_test_module_imports_another_and_support_imports_none() -> None:
    modules = [*(ROOT / "tests").glob("**/test_*.py"), *(ROOT / "tests" / "support").glob("*.py")]
    modules += (ROOT / "tests").glob("**/conftest.py")
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted(modules)
        for line, module in imported_modules(path)
        if is_test_module(module)
    ]
    assert not offending, "shared test code belongs in tests/support/:\n" + "\n".join(offending)
