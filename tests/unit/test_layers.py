"""The packages' layers, read from the source: ``common/`` is the ground floor.

``common`` imports no service and no operator command; every import counts, including the
ones inside functions, which hide a dependency from a reader of the module's head.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ABOVE_COMMON = {"auth_service", "books_service", "web_service", "ops", "bench", "tests"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module an ``import`` or ``from … import`` names in ``path``, with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_imported_modules_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "import os\n"
        "def f():\n"
        "    from auth_service.config import AuthSettings\n"
        "    import books_service.app\n"
    )
    assert imported_modules(source) == [
        (1, "os"),
        (3, "auth_service.config"),
        (4, "books_service.app"),
    ]


def test_common_imports_no_service_and_no_operator_command() -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted((ROOT / "common").glob("**/*.py"))
        for line, module in imported_modules(path)
        if module.split(".")[0] in ABOVE_COMMON
    ]
    assert not offending, "common/ must not import a service or ops:\n" + "\n".join(offending)
