"""The spec's start commands work with whatever ``python`` is on the PATH.

``python auth_service/auth_service.py`` is run, as often as not, by a Python that lacks the
dependencies: the system's, while they live in the project's ``.venv`` that ``make run`` made.
Each start script calls :func:`run_under_project_environment` before importing anything else:
when a dependency is missing it re-runs the script under ``.venv/bin/python`` (same arguments,
same environment, same directory), and where there is no such environment, or it lacks them
too, it says in one line what to run instead of a traceback.

The standard library only, by necessity: this runs before the dependencies are known to be
there.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Another environment to re-run under, instead of the project's .venv (a deployment's own).
VENV_ENV = "ESTANTE_VENV"
# Set on the re-run: if the environment lacks the dependencies too, say so rather than loop.
REEXEC_ENV = "ESTANTE_BOOTSTRAP_REEXEC"
# What the services import, one module per runtime dependency of pyproject.toml (a unit test
# keeps the two lists together).
REQUIRED_MODULES = (
    "flask",
    "flask_openapi3",
    "flask_openapi3_swagger",
    "flask_jwt_extended",
    "jwt",
    "cryptography",
    "sqlalchemy",
    "alembic",
    "pydantic",
    "pydantic_settings",
    "argon2",
    "granian",
    "psycopg",
    "flask_limiter",
    "prometheus_client",
    "pycountry",
    "flask_babel",
    "httpx",
    "pymarc",
    "charset_normalizer",
    "typer",
    "rich",
    "confusable_homoglyphs",
    "fontTools",
    "stdnum",
)
EXIT_NO_ENVIRONMENT = 3


def missing_module(modules: tuple[str, ...] = REQUIRED_MODULES) -> str | None:
    """The first of ``modules`` this Python cannot import (found without importing it)."""
    for module in modules:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except (ImportError, ValueError):
            return module
    return None


def environment_dir() -> Path:
    return Path(os.environ.get(VENV_ENV) or PROJECT_ROOT / ".venv")


def environment_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _running_in(venv: Path) -> bool:
    try:
        return Path(sys.prefix).resolve() == venv.resolve()
    except OSError:
        return False


def run_under_project_environment(script: str) -> None:
    """Return at once when this Python has the dependencies; else re-run ``script`` under the
    project's environment (this process is replaced), or exit with one line saying what to run.
    ``script`` is the start script's path (``__file__``)."""
    missing = missing_module()
    if missing is None:
        return
    venv = environment_dir()
    python = environment_python(venv)
    shown = os.path.relpath(script, PROJECT_ROOT)
    if python.exists() and not _running_in(venv) and REEXEC_ENV not in os.environ:
        os.environ[REEXEC_ENV] = str(python)
        try:
            os.execv(python, [str(python), os.path.abspath(script), *sys.argv[1:]])  # noqa: S606
        except OSError as error:
            _refuse(
                f"could not run {python} ({error.strerror}): run 'make install', then 'make run'"
            )
    if python.exists():
        _refuse(
            f"{venv} lacks Estante's dependencies (no module '{missing}'): run 'make install' "
            f"to bring it up to date, then 'make run' (or '{python} {shown}')"
        )
    _refuse(
        f"this Python ({sys.executable}) lacks Estante's dependencies (no module '{missing}') "
        f"and there is no {venv} to use: run 'make run' (it creates it and starts the services), "
        f"or 'make install' and then '{python} {shown}'"
    )


def _refuse(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_NO_ENVIRONMENT)
