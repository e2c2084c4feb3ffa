"""Starting, stopping and restarting the real services, and what survives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from common.config import PROJECT_ROOT
from tests.integration.harness import Stack, free_port, wait_until_healthy


def test_a_book_survives_a_restart_of_its_service(own_stack: Stack) -> None:
    token = own_stack.token()
    book = own_stack.add_book(
        token, title="Memórias Póstumas de Brás Cubas", author="Machado de Assis"
    )
    own_stack.books.restart()
    fetched = requests.get(f"{own_stack.books_url}/books/{book['id']}", timeout=10)
    assert fetched.status_code == 200
    assert fetched.json() == book
    # The token issued before the restart still works: keys are fetched again from the JWKS.
    own_stack.add_book(token, title="after restart")


def test_accounts_and_keys_survive_a_restart_of_the_auth_service(own_stack: Stack) -> None:
    registered = own_stack.register("persistent_user")
    old_token = registered["access_token"]
    own_stack.auth.restart()
    login = requests.post(
        f"{own_stack.auth_url}/login",
        json={"username": "persistent_user", "password": "correct horse battery staple"},
        timeout=10,
    )
    assert login.status_code == 200
    # Same signing key after the restart: the old token is still good at the books service.
    own_stack.add_book(old_token, title="old token, restarted issuer")


def test_sigterm_and_sigint_stop_a_service_cleanly(own_stack: Stack) -> None:
    assert own_stack.books.stop(signal.SIGTERM) == 0
    assert own_stack.auth.stop(signal.SIGINT) == 0


def test_signing_key_and_sqlite_files_are_private(own_stack: Stack) -> None:
    if own_stack.backend != "sqlite":
        return
    keys = list(own_stack.keys_dir().glob("*.pem"))
    assert len(keys) == 1
    assert keys[0].name.startswith("dev-")
    assert keys[0].stat().st_mode & 0o777 == 0o600
    assert own_stack.keys_dir().stat().st_mode & 0o777 == 0o700
    for db in ("auth.db", "books.db"):
        assert (own_stack.data_dir / db).stat().st_mode & 0o777 == 0o600


def run_script(service: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / service / f"{service}.py")],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_refuses_generated_or_missing_keys(tmp_path: Path) -> None:
    base = {
        "ESTANTE_ENV": "production",
        "ESTANTE_DATA_DIR": str(tmp_path / "data"),
        "AUTH_PORT": str(free_port()),
    }
    missing = run_script("auth_service", base, tmp_path)
    assert missing.returncode == 2
    assert "AUTH_KEYS_DIR" in missing.stderr
    assert not (tmp_path / "data" / "keys").exists()  # it did not generate one either

    dev_keys = tmp_path / "devkeys"
    from auth_service.keys import generate_key

    generate_key(dev_keys, development=True)
    with_dev = run_script("auth_service", {**base, "AUTH_KEYS_DIR": str(dev_keys)}, tmp_path)
    assert with_dev.returncode == 2
    assert "development keys" in with_dev.stderr

    debug = run_script(
        "books_service", {**base, "ESTANTE_DEBUG": "1", "BOOKS_PORT": str(free_port())}, tmp_path
    )
    assert debug.returncode == 2
    assert "ESTANTE_DEBUG" in debug.stderr


def test_invalid_settings_are_explained(tmp_path: Path) -> None:
    result = run_script(
        "books_service", {"BOOKS_PORT": "not-a-port", "ESTANTE_DATA_DIR": str(tmp_path)}, tmp_path
    )
    assert result.returncode == 2
    assert "BOOKS_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_starts_with_a_real_key(tmp_path: Path) -> None:
    from auth_service.keys import generate_key

    keys = tmp_path / "keys"
    generate_key(keys)
    port = free_port()
    env = {
        **os.environ,
        "ESTANTE_ENV": "production",
        "ESTANTE_DATA_DIR": str(tmp_path / "data"),
        "AUTH_KEYS_DIR": str(keys),
        "AUTH_PORT": str(port),
        "ESTANTE_WORKERS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "auth_service" / "auth_service.py")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
        jwks = requests.get(f"http://127.0.0.1:{port}/.well-known/jwks.json", timeout=10).json()
        assert len(jwks["keys"]) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_make_run_launcher_starts_both_and_stops_both(tmp_path: Path) -> None:
    auth_port, books_port = free_port(), free_port()
    env = {
        **os.environ,
        "ESTANTE_DATA_DIR": str(tmp_path / "data"),
        "AUTH_PORT": str(auth_port),
        "BOOKS_PORT": str(books_port),
        "ESTANTE_LOG_LEVEL": "WARNING",
        "AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
    }
    launcher = subprocess.Popen(
        [sys.executable, "-m", "common.launcher"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{auth_port}", launcher)
        wait_until_healthy(f"http://127.0.0.1:{books_port}", launcher)
        registered = requests.post(
            f"http://127.0.0.1:{auth_port}/register",
            json={"username": "launcher_user", "password": "correct horse battery staple"},
            timeout=10,
        )
        token = registered.json()["access_token"]
        created = requests.post(
            f"http://127.0.0.1:{books_port}/books",
            json={"title": "a", "author": "b"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert created.status_code == 201
    finally:
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=30)
    assert launcher.returncode == 0, output
    assert f"listening on http://127.0.0.1:{auth_port}" in output
    assert f"listening on http://127.0.0.1:{books_port}" in output
    time.sleep(0.2)
    for port in (auth_port, books_port):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            raise AssertionError(f"port {port} still answers after the launcher stopped")
        except requests.ConnectionError:
            pass


def test_migrate_argument_migrates_and_exits(tmp_path: Path) -> None:
    from common import migrations

    env = {"ESTANTE_DATA_DIR": str(tmp_path), "ESTANTE_AUTO_MIGRATE": "0"}
    for service, key in (("auth_service", "auth"), ("books_service", "books")):
        result = subprocess.run(
            [sys.executable, str(PROJECT_ROOT / service / f"{service}.py"), "migrate"],
            env={**os.environ, **env},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        url = f"sqlite:///{tmp_path / (key + '.db')}"
        assert migrations.current_revision(key, url) == migrations.head_revision(key)


def test_a_weak_first_admin_password_is_refused_at_start(tmp_path: Path) -> None:
    result = run_script(
        "auth_service",
        {
            "ESTANTE_DATA_DIR": str(tmp_path),
            "ESTANTE_ADMIN_USERNAME": "boss",
            "ESTANTE_ADMIN_PASSWORD": "password",
            "AUTH_PORT": str(free_port()),
        },
        tmp_path,
    )
    assert result.returncode == 2
    assert "ESTANTE_ADMIN_PASSWORD" in result.stderr
    assert "password" in result.stderr and "Traceback" not in result.stderr
