"""The packages' layers, read from the source: ``common/`` is the ground floor, and tests share
code through ``tests/support/``, never by importing one another.

Every import counts, including the ones inside functions, which hide a dependency from a reader
of the module's head.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ABOVE_COMMON = {
    "auth_service",
    "books_service",
    "web_service",
    "estante_cli",
    "ops",
    "bench",
    "tests",
}


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


PACKAGES = ["auth_service", "books_service", "common", "ops", "bench", "tests/support"]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports(package_dir: Path, root: Path = ROOT) -> dict[str, set[str]]:
    """For each module of the package, the package's modules it imports (anywhere in it;
    ``from package import module`` imports the package's ``__init__`` first, so both count)."""
    modules = {module_name(path, root): path for path in package_dir.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's own package upwards
                    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        graph[name] = {target for target in targets if target in modules} - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (its modules in order, the first repeated), or None."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> list[str] | None:
        if module in visiting:
            return [*visiting[visiting.index(module) :], module]
        if module in done:
            return None
        visiting.append(module)
        for target in sorted(graph[module]):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module)
        if cycle:
            return cycle
    return None


def test_find_cycle_finds_a_circle_hidden_in_a_function(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text(
        "def policy():\n    from pkg.keys import Policy\n    return Policy()\n"
    )
    (package / "keys.py").write_text("from pkg import config\n")
    (package / "app.py").write_text("from . import keys\n")
    graph = package_imports(package, root=tmp_path)
    assert graph["pkg.app"] == {"pkg", "pkg.keys"}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert sorted(cycle[:-1]) == ["pkg.config", "pkg.keys"]
    del graph["pkg.config"]
    graph["pkg.keys"] = set()
    assert find_cycle(graph) is None


def test_no_package_has_an_import_cycle() -> None:
    for package in PACKAGES:
        cycle = find_cycle(package_imports(ROOT / package))
        assert cycle is None, f"{package}: import circle " + " -> ".join(cycle or [])


SERVICES = {"auth_service", "books_service", "web_service"}
HTTP_ONLY = {"web_service", "estante_cli"}  # they talk to the services over HTTP


def package_modules(package: str) -> list[Path]:
    return sorted((ROOT / package).glob("**/*.py")) if (ROOT / package).is_dir() else []


def test_no_service_imports_another_and_the_clients_import_none() -> None:
    """What crosses between services is HTTP (tokens, the JWKS, the revocation list, whose
    format common/ defines); the web interface and the estante command are HTTP clients."""
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for package in SERVICES | HTTP_ONLY
        for path in package_modules(package)
        for line, module in imported_modules(path)
        if module.split(".")[0] in (SERVICES - {package}) | {"ops", "bench", "tests"}
    ]
    assert not offending, "\n".join(offending)


def test_every_start_script_calls_the_bootstrap_before_any_dependency() -> None:
    """``python <service>/<service>.py`` run by a Python without the dependencies must reach
    common.bootstrap (standard library only) before importing any of them."""
    scripts = sorted(ROOT.glob("*_service/*_service.py"))
    assert len(scripts) >= 2
    for script in scripts:
        body = ast.parse(script.read_text(encoding="utf-8")).body
        calls = [
            index
            for index, node in enumerate(body)
            if isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", None) == "run_under_project_environment"
        ]
        assert calls, f"{script.name} does not call run_under_project_environment(__file__)"
        for node in body[: calls[0]]:
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module in {"pathlib", "common.bootstrap", "__future__"}, (
                    f"{script.name} imports {node.module} before the bootstrap"
                )
            elif isinstance(node, ast.Import):
                assert all(alias.name in {"sys", "os"} for alias in node.names), script.name
