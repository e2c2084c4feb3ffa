"""A service's start prepares (settings, keys, migrations) in a child process that exits when
it is done, so the main process, which supervises the workers for as long as the service runs,
never loads the app nor its libraries; the workers import the app themselves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from common import revisions
from common.config import PROJECT_ROOT
from tests.support.harness import free_port, wait_until_healthy

AUTH_START = [sys.executable, str(PROJECT_ROOT / "auth_service" / "auth_service.py")]
# Libraries of the app whose compiled parts show in a process's memory map once imported.
APP_LIBRARIES = ("pydantic_core", "cryptography", "_cffi_backend")


def service_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ESTANTE_ENV": "test",
        "ESTANTE_DATA_DIR": str(tmp_path / "data"),
        "ESTANTE_LOG_LEVEL": "WARNING",
        "AUTH_WORKERS": "1",
        "ARGON2_MEMORY_KIB": "8192",
        "ARGON2_TIME_COST": "1",
        **extra,
    }


def children(pid: int) -> list[int]:
    return [
        int(child)
        for task in os.listdir(f"/proc/{pid}/task")
        for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
    ]


def libraries_mapped(pid: int) -> set[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {library for library in APP_LIBRARIES if library in maps}


def test_the_preparation_leaves_neither_the_app_nor_a_process_behind(tmp_path: Path) -> None:
    code = (
        "import json, os, sys; from common.server import prepared_in_child; "
        "plan = prepared_in_child('auth_service.config:AuthSettings', "
        "'auth_service.preparation:prepare', False); "
        "children = [c for t in os.listdir('/proc/self/task') "
        "for c in open(f'/proc/self/task/{t}/children').read().split()]; "
        "loaded = [m for m in ('flask', 'sqlalchemy', 'pydantic', 'alembic', "
        "'auth_service.app') if m in sys.modules]; "
        "print(json.dumps({'plan': plan, 'loaded': loaded, 'children': children}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=service_env(tmp_path, AUTH_PORT="5999"),
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout)
    assert report["loaded"] == [] and report["children"] == []
    # What the main process serves with, as the settings say.
    assert (report["plan"]["service"], report["plan"]["port"]) == ("auth_service", 5999)
    assert (report["plan"]["workers"], report["plan"]["threads"]) == (1, 4)
    assert report["plan"]["environment"]["PROMETHEUS_MULTIPROC_DIR"].endswith(
        "metrics/auth_service"
    )
    # And the preparation was done: the database migrated, a signing key made.
    assert revisions.is_at_head("auth", f"sqlite:///{tmp_path / 'data' / 'auth.db'}")
    assert list((tmp_path / "data" / "keys").glob("*.pem"))


def test_a_served_main_process_never_loads_what_its_workers_run(tmp_path: Path) -> None:
    port = free_port()
    service = subprocess.Popen(
        AUTH_START,
        env=service_env(tmp_path, AUTH_PORT=str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", service)  # type: ignore[arg-type]
        login = requests.post(
            f"http://127.0.0.1:{port}/login", json={"username": "x", "password": "y"}, timeout=10
        )
        assert login.status_code == 401  # a worker checked a password: argon2 is loaded there
        (worker,) = children(service.pid)  # the preparing child is gone; the one worker serves
        assert libraries_mapped(worker) == set(APP_LIBRARIES)
        assert libraries_mapped(service.pid) == set()
    finally:
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0


def test_a_wrong_setting_stops_the_start_with_its_message(tmp_path: Path) -> None:
    done = subprocess.run(
        AUTH_START, env=service_env(tmp_path, AUTH_PORT="five"), capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "AUTH_PORT: Input should be a valid integer" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_preparation_that_fails_stops_the_start_with_its_error(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "a file"
    not_a_directory.write_text("")
    url = f"sqlite:///{not_a_directory / 'auth.db'}"
    done = subprocess.run(
        AUTH_START,
        env=service_env(tmp_path, AUTH_DATABASE_URL=url, AUTH_PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "a file" in done.stderr
    assert "listening on" not in done.stderr


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_while_the_start_prepares_stops_the_preparation_too(
    tmp_path: Path, stop: signal.Signals
) -> None:
    started = tmp_path / "preparing"
    code = (
        "from common.server import serve; "
        "serve('auth_service.config:AuthSettings', 'tests.support.slow_start:prepare', "
        "'auth_service.app:create_app')"
    )
    service = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=service_env(tmp_path, AUTH_PORT=str(free_port()), SLOW_START_FILE=str(started)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        preparing = int(started.read_text())
        assert children(service.pid) == [preparing]
        service.send_signal(stop)
        assert service.wait(timeout=20) != 0  # it never served: the start failed
        deadline = time.monotonic() + 10
        while Path(f"/proc/{preparing}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not Path(f"/proc/{preparing}").exists()
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
