"""The spec's own commands, ``python auth_service/auth_service.py`` and
``python books_service/books_service.py``, run by a Python without the dependencies (the
system's): they re-run themselves under the project's .venv, or say in one line what to run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from common.bootstrap import EXIT_NO_ENVIRONMENT, PROJECT_ROOT, REEXEC_ENV, VENV_ENV
from tests.support.harness import free_port, wait_until_healthy

SCRIPTS = {"auth_service": "AUTH_PORT", "books_service": "BOOKS_PORT"}
VENV_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"


def bare_python() -> str:
    """A Python on this machine that cannot import Flask, or skip."""
    for candidate in ("/usr/bin/python3", shutil.which("python3"), shutil.which("python")):
        if not candidate or not Path(candidate).exists():
            continue
        probe = subprocess.run(
            [candidate, "-c", "import flask"], env=clean_env(), capture_output=True, check=False
        )
        if probe.returncode != 0:
            return candidate
    pytest.skip("every Python here has Flask installed: none to try the start scripts with")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what would hand the bare Python our packages or a re-run."""
    hidden = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", REEXEC_ENV, VENV_ENV}
    return {
        **{name: value for name, value in os.environ.items() if name not in hidden},
        **extra,
    }


def script(service: str) -> str:
    return f"{service}/{service}.py"  # as the spec writes it, run from the project root


@pytest.mark.parametrize("service", SCRIPTS)
def test_a_bare_python_starts_the_service_under_the_project_environment(
    service: str, tmp_path: Path
) -> None:
    if not VENV_PYTHON.exists():
        pytest.skip("no .venv in the project (make install creates it)")
    port = free_port()
    env = clean_env(
        ESTANTE_DATA_DIR=str(tmp_path / "data"), ESTANTE_ENV="test", **{SCRIPTS[service]: str(port)}
    )
    process = subprocess.Popen(
        [bare_python(), script(service)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process)  # type: ignore[arg-type]
        # The same process, now the project's Python running the same script.
        command = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert command[0] == str(VENV_PYTHON).encode()
        assert command[1] == str(PROJECT_ROOT / script(service)).encode()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_the_arguments_survive_the_re_run(tmp_path: Path) -> None:
    if not VENV_PYTHON.exists():
        pytest.skip("no .venv in the project (make install creates it)")
    migrated = subprocess.run(
        [bare_python(), script("books_service"), "migrate"],
        cwd=PROJECT_ROOT,
        env=clean_env(ESTANTE_DATA_DIR=str(tmp_path / "data"), ESTANTE_ENV="test"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "books_service: database migrated" in migrated.stderr
    assert (tmp_path / "data" / "books.db").exists()


def one_line_refusal(service: str, venv: Path, tmp_path: Path) -> str:
    refused = subprocess.run(
        [bare_python(), script(service)],
        cwd=PROJECT_ROOT,
        env=clean_env(ESTANTE_DATA_DIR=str(tmp_path / "data"), **{VENV_ENV: str(venv)}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == EXIT_NO_ENVIRONMENT
    assert refused.stdout == ""
    assert "Traceback" not in refused.stderr
    lines = refused.stderr.splitlines()
    assert len(lines) == 1, refused.stderr
    assert not (tmp_path / "data").exists()  # it did nothing else
    return lines[0]


@pytest.mark.parametrize("service", SCRIPTS)
def test_without_an_environment_one_line_says_what_to_run(service: str, tmp_path: Path) -> None:
    line = one_line_refusal(service, tmp_path / "no-venv", tmp_path)
    assert line.startswith("error: this Python")
    assert "'make run'" in line and "'make install'" in line
    assert "no module 'flask'" in line


def test_an_environment_without_the_dependencies_is_not_re_run_forever(tmp_path: Path) -> None:
    """A .venv whose Python lacks them too (made, never installed into): one re-run, then a
    line asking for ``make install``."""
    venv = tmp_path / "empty-venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(bare_python())
    line = one_line_refusal("auth_service", venv, tmp_path)
    assert f"{venv} lacks Estante's dependencies" in line
    assert "'make install'" in line
