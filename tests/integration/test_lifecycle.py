"""Starting, stopping and restarting the real services, and what survives."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from common.config import PROJECT_ROOT
from tests.support.harness import (
    STRONG_PASSWORD,
    Stack,
    build_stack,
    free_port,
    wait_until_healthy,
)

# An expensive password hash makes a login slow enough to be caught in flight.
SLOW_HASHING = {"ARGON2_TIME_COST": "12", "ARGON2_MEMORY_KIB": "131072"}
# What Granian says when it gives up on a graceful stop (after ESTANTE_SHUTDOWN_TIMEOUT).
WORKER_KILLED = ("refused to gracefully stop", "Killing worker")
# Long, so that a slow login on a busy machine is never what runs into it: a worker that hangs
# shows as a stop that takes this long, and as a "Killing worker" line.
SHUTDOWN_TIMEOUT = 30
# A clean stop, once the last request is answered, takes well under a second.
STOP_SECONDS = 4


class LoginInFlight(threading.Thread):
    """A login started now, still running when the test signals the server."""

    def __init__(self, auth_url: str, username: str) -> None:
        super().__init__()
        self.auth_url, self.username = auth_url, username
        self.status: int | None = None
        self.seconds = 0.0
        self.finished_at = 0.0

    def run(self) -> None:
        began = time.monotonic()
        response = requests.post(
            f"{self.auth_url}/login",
            json={"username": self.username, "password": STRONG_PASSWORD},
            timeout=60,
        )
        self.finished_at = time.monotonic()
        self.status, self.seconds = response.status_code, self.finished_at - began

    def start_and_wait_until_in_flight(self) -> None:
        self.start()
        time.sleep(0.15)  # the request has reached a worker; its hash takes over a second


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


def test_a_service_stopped_while_its_workers_start_stops_without_killing_them(
    tmp_path: Path,
) -> None:
    """SIGTERM right after Granian forks the workers, while they still build the app: they
    leave at once instead of swallowing the signal and being killed after the shutdown
    timeout (what a test, a deployment or an impatient Ctrl-C right after a start does)."""
    stack = build_stack(
        tmp_path, "sqlite", extra_env={"ESTANTE_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT)}
    )
    books = stack.books
    assert books.log_path is not None
    env = {**os.environ, **books.env, "BOOKS_PORT": str(books.port)}
    process = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "books_service" / "books_service.py")],
        env=env,
        cwd=tmp_path,
        stdout=books.log_path.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "Spawning worker-2" not in books.log():
            assert process.poll() is None and time.monotonic() < deadline, books.log()
            time.sleep(0.005)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=2 * SHUTDOWN_TIMEOUT) == 0
        log = books.log()
        assert not [line for line in log.splitlines() if any(w in line for w in WORKER_KILLED)]
        assert "Stopped worker-2" in log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def blocked_signals(task: Path) -> set[int]:
    """The signals a thread (``/proc/<pid>/task/<tid>``) blocks."""
    found = re.search(r"^SigBlk:\s*([0-9a-f]+)$", (task / "status").read_text(), re.MULTILINE)
    assert found
    mask = int(found.group(1), 16)
    return {n for n in range(1, 65) if mask & (1 << (n - 1))}


def test_ctrl_c_in_a_terminal_stops_a_service_gracefully(tmp_path: Path) -> None:
    """`python auth_service/auth_service.py` in a terminal, then Ctrl-C: the terminal sends
    SIGINT to the whole process group, the workers included. The request in flight finishes,
    and the service stops at once, not after a worker has been killed."""
    stack = build_stack(
        tmp_path,
        "sqlite",
        extra_env={**SLOW_HASHING, "ESTANTE_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT)},
    )
    stack.auth.start()  # in a process group of its own, as a terminal's job is
    try:
        # The workers never take the terminal's SIGINT (blocked in every thread): caught by it
        # and by the main process's SIGTERM at once, a worker could miss both and hang until
        # killed, which the timing below shows only some of the time.
        workers = re.findall(r"Spawning worker-\d+ with PID: (\d+)", stack.auth.log())
        assert len(workers) == 2
        for pid in workers:
            for task in Path(f"/proc/{pid}/task").iterdir():
                assert signal.SIGINT in blocked_signals(task), f"worker {pid}, thread {task.name}"
        login = LoginInFlight(stack.auth_url, stack.register()["user"]["username"])
        login.start_and_wait_until_in_flight()
        assert stack.auth.process is not None
        os.killpg(stack.auth.process.pid, signal.SIGINT)
        login.join(timeout=60)
        assert stack.auth.process.wait(timeout=2 * SHUTDOWN_TIMEOUT) == 0
        stopped_after = time.monotonic() - login.finished_at
        assert login.status == 200
        assert login.seconds > 0.3  # it really was in flight when the signal came
        assert stopped_after < STOP_SECONDS, stopped_after
        log = stack.auth.log()
        assert not [line for line in log.splitlines() if any(w in line for w in WORKER_KILLED)]
        assert "Stopped worker-2" in log
    finally:
        stack.stop()


def start_launcher(
    tmp_path: Path, **extra_env: str
) -> tuple[subprocess.Popen[str], Path, int, int, int]:
    auth_port, books_port, web_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "ESTANTE_WORKERS": "2",
        "AUTH_WORKERS": "1",  # make run's defaults, whatever this shell says
        "ESTANTE_DATA_DIR": str(tmp_path / "data"),
        "AUTH_PORT": str(auth_port),
        "BOOKS_PORT": str(books_port),
        "WEB_PORT": str(web_port),
        "ESTANTE_LOG_LEVEL": "WARNING",
        "AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
        **extra_env,
    }
    log = tmp_path / "launcher.log"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "ops.launcher"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the group a terminal runs `make run` in, with it as leader
    )
    wait_until_healthy(f"http://127.0.0.1:{auth_port}", launcher)  # type: ignore[arg-type]
    wait_until_healthy(f"http://127.0.0.1:{books_port}", launcher)  # type: ignore[arg-type]
    wait_until_healthy(f"http://127.0.0.1:{web_port}", launcher)  # type: ignore[arg-type]
    # Every worker of the three services is up (a signal that lands while one is still starting
    # is a different story): two each for Books and the web, Auth's one.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and log.read_text().count("Started worker-") < 5:
        time.sleep(0.05)
    return launcher, log, auth_port, books_port, web_port


def stop_launcher(launcher: subprocess.Popen[str]) -> None:
    """Clean-up after a failure: the launcher stops its services itself on SIGTERM."""
    if launcher.poll() is None:
        launcher.send_signal(signal.SIGTERM)
        try:
            launcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()


def test_ctrl_c_stops_make_run_gracefully(tmp_path: Path) -> None:
    """`make run`, then Ctrl-C: SIGINT to the launcher's process group. The three services
    stop in a few seconds, the request in flight finishes, no worker is killed (nor logged as
    killed: Granian's own stop did that now and then to a worker already on its way out,
    which ``common.server.Server`` waits for)."""
    output = ctrl_c_make_run(tmp_path / "make-run")
    assert not worker_killed(output), output


def worker_killed(output: str) -> list[str]:
    return [line for line in output.splitlines() if any(w in line for w in WORKER_KILLED)]


def ctrl_c_make_run(tmp_path: Path) -> str:
    """One `make run` stopped by Ctrl-C with a login in flight; every check but the killed
    workers'. Returns the launcher's output."""
    tmp_path.mkdir()
    launcher, log, auth_port, books_port, web_port = start_launcher(
        tmp_path, **SLOW_HASHING, ESTANTE_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT)
    )
    try:
        auth_url = f"http://127.0.0.1:{auth_port}"
        registered = requests.post(
            f"{auth_url}/register",
            json={"username": "ctrl_c_user", "password": STRONG_PASSWORD},
            timeout=60,
        )
        assert registered.status_code == 201
        login = LoginInFlight(auth_url, "ctrl_c_user")
        login.start_and_wait_until_in_flight()
        os.killpg(launcher.pid, signal.SIGINT)
        login.join(timeout=60)
        assert launcher.wait(timeout=2 * SHUTDOWN_TIMEOUT) == 0
        stopped_after = time.monotonic() - login.finished_at
    finally:
        stop_launcher(launcher)
    output = log.read_text()
    assert login.status == 200, output
    assert login.seconds > 0.3
    assert stopped_after < STOP_SECONDS, (stopped_after, output)
    assert output.count("Granian shutdown completed") == 3
    assert output.rstrip().endswith("stopped")
    for port in (auth_port, books_port, web_port):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            raise AssertionError(f"port {port} still answers after the launcher stopped")
        except requests.ConnectionError:
            pass
    return output


# SQLite only: with PostgreSQL there are no database files, and a stack started only to return
# at once cost a pair of services and two databases.
@pytest.mark.parametrize("own_stack", ["sqlite"], indirect=True)
def test_signing_key_and_sqlite_files_are_private(own_stack: Stack) -> None:
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


def test_production_refuses_placeholder_secrets_at_start(tmp_path: Path) -> None:
    """Secrets copied from an example unchanged: the service says which one and stops."""
    from auth_service.keys import generate_key

    generate_key(tmp_path / "keys")
    placeholder = "change-me-too-a-long-passphrase"
    (tmp_path / "admin_password").write_text(placeholder + "\n")
    base = {"ESTANTE_ENV": "production", "ESTANTE_DATA_DIR": str(tmp_path / "data")}
    auth = run_script(
        "auth_service",
        {
            **base,
            "AUTH_KEYS_DIR": str(tmp_path / "keys"),
            "AUTH_PORT": str(free_port()),
            "ESTANTE_ADMIN_USERNAME": "admin",
            "ESTANTE_ADMIN_PASSWORD_FILE": str(tmp_path / "admin_password"),
        },
        tmp_path,
    )
    assert auth.returncode == 2, auth.stderr
    assert "ESTANTE_ADMIN_PASSWORD is still the example's placeholder" in auth.stderr
    assert placeholder not in auth.stderr and "Traceback" not in auth.stderr

    books = run_script(
        "books_service",
        {
            **base,
            "BOOKS_PORT": str(free_port()),
            # Refused before any connection is tried: nothing listens there.
            "BOOKS_DATABASE_URL": "postgresql://estante:changeme@127.0.0.1:9/estante_books",
        },
        tmp_path,
    )
    assert books.returncode == 2, books.stderr
    assert "the password in BOOKS_DATABASE_URL/DATABASE_URL is still the example" in books.stderr
    assert not (tmp_path / "data" / "books.db").exists()


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


def test_make_run_launcher_starts_all_three_and_stops_them(tmp_path: Path) -> None:
    """The web service comes up wired to the other two on the ports they were given."""
    auth_port, books_port, web_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "ESTANTE_DATA_DIR": str(tmp_path / "data"),
        "AUTH_PORT": str(auth_port),
        "BOOKS_PORT": str(books_port),
        "WEB_PORT": str(web_port),
        "ESTANTE_LOG_LEVEL": "WARNING",
        "AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
    }
    launcher = subprocess.Popen(
        [sys.executable, "-m", "ops.launcher"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{auth_port}", launcher)
        wait_until_healthy(f"http://127.0.0.1:{books_port}", launcher)
        wait_until_healthy(f"http://127.0.0.1:{web_port}", launcher)
        registered = requests.post(
            f"http://127.0.0.1:{auth_port}/register",
            json={"username": "launcher_user", "password": "correct horse battery staple"},
            timeout=10,
        )
        token = registered.json()["access_token"]
        created = requests.post(
            f"http://127.0.0.1:{books_port}/books",
            json={"title": "Launched Book", "author": "b"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert created.status_code == 201
        catalog = requests.get(f"http://127.0.0.1:{web_port}/", timeout=10)
        assert catalog.status_code == 200 and "Launched Book" in catalog.text
    finally:
        launcher.send_signal(signal.SIGINT)
        output, _ = launcher.communicate(timeout=30)
    assert launcher.returncode == 0, output
    assert f"listening on http://127.0.0.1:{auth_port}" in output
    assert f"listening on http://127.0.0.1:{books_port}" in output
    assert f"listening on http://127.0.0.1:{web_port}" in output
    time.sleep(0.2)
    for port in (auth_port, books_port, web_port):
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


def test_make_run_stops_the_workers_a_crashed_service_leaves(tmp_path: Path) -> None:
    """A service whose main process dies (the OOM killer, say) leaves its workers behind, in
    its process group; the launcher then stops everything, those workers included, so no port
    stays held by processes nobody would stop."""
    launcher, log, auth_port, _, _ = start_launcher(tmp_path)
    try:
        children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()
        auth_main = next(
            int(pid)
            for pid in children
            if "auth_service" in Path(f"/proc/{pid}/cmdline").read_text()
        )
        os.kill(auth_main, signal.SIGKILL)
        assert launcher.wait(timeout=60) != 0
    finally:
        stop_launcher(launcher)
    deadline = time.monotonic() + 10
    while True:
        try:
            os.killpg(auth_main, 0)  # anyone left in the dead service's group?
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    try:
        requests.get(f"http://127.0.0.1:{auth_port}/healthz", timeout=1)
        raise AssertionError(f"port {auth_port} still answers after the launcher stopped")
    except requests.ConnectionError:
        pass
