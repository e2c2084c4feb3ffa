"""Start the real services as processes, on free ports, over a temporary data directory."""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import text

from common.config import PROJECT_ROOT
from common.db import create_db_engine

STRONG_PASSWORD = "correct horse battery staple"
ADMIN_USERNAME = "head.librarian"
ADMIN_PASSWORD = "a long administrator passphrase"
PORT_VARIABLES = {
    "auth_service": "AUTH_PORT",
    "books_service": "BOOKS_PORT",
    "web_service": "WEB_PORT",
}


# Under pytest-xdist each worker (gw0, gw1, ...) takes its ports from a block of its own, below
# the kernel's ephemeral range: a port one worker found free and handed to a service still
# starting is never handed out by another worker (nor taken by an outgoing connection).
PORT_BLOCK = 3000
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
_next_ports = (
    itertools.cycle(
        range(20000 + int(_worker[2:]) * PORT_BLOCK, 20000 + (int(_worker[2:]) + 1) * PORT_BLOCK)
    )
    if re.fullmatch(r"gw[0-3]", _worker)
    else None
)


def free_port() -> int:
    """A port nothing listens on now, for a service about to start."""
    with socket.socket() as sock:
        if _next_ports is None:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
        for port in itertools.islice(_next_ports, PORT_BLOCK):
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in this test worker's block")


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the service exited with code {process.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # refused, or accepted before a worker is up
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url}: not healthy after {timeout} s")


@dataclass
class Service:
    """One service started with the spec's own command: ``python <svc>/<svc>.py``."""

    name: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, cwd: Path | None = None) -> Service:
        env = {**os.environ, **self.env, PORT_VARIABLES[self.name]: str(self.port)}
        script = PROJECT_ROOT / self.name / f"{self.name}.py"
        assert self.log_path is not None
        log = self.log_path.open("ab")
        # Started from another directory on purpose: the scripts must not depend on the cwd.
        self.process = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=cwd or self.log_path.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() takes the workers too
        )
        wait_until_healthy(self.url, self.process)
        self._wait_for_all_workers()
        return self

    def _wait_for_all_workers(self, timeout: float = 30) -> None:
        """Healthy means one worker answers; tests that signal the server need all of them up
        (a signal that lands while a worker is still starting is a different story)."""
        workers = int(self.env.get("ESTANTE_WORKERS", "2"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(f"Started worker-{n}" in self.log() for n in range(1, workers + 1)):
                return
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """Die at once, workers and all, as a crashed machine would (SIGKILL)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        assert self.log_path is not None
        return self.log_path.read_text(errors="replace")


@dataclass
class Stack:
    """Both services, wired together the way ``make run`` wires them."""

    auth: Service
    books: Service
    data_dir: Path
    backend: str
    web: Service | None = None  # the web interface, when the stack was built with_web

    @property
    def auth_url(self) -> str:
        return self.auth.url

    @property
    def web_url(self) -> str:
        assert self.web is not None, "this stack was built without the web service"
        return self.web.url

    @property
    def books_url(self) -> str:
        return self.books.url

    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    def database_url(self, service: str) -> str:
        """The database ``service`` ("auth" or "books") runs on: its own URL, or its SQLite
        file in the data directory."""
        env = (self.auth if service == "auth" else self.books).env
        return (
            env.get(f"{service.upper()}_DATABASE_URL")
            or f"sqlite:///{self.data_dir / f'{service}.db'}"
        )

    def register(
        self, username: str | None = None, password: str = STRONG_PASSWORD
    ) -> dict[str, Any]:
        username = username or f"user_{uuid.uuid4().hex[:12]}"
        response = requests.post(
            f"{self.auth_url}/register",
            json={"username": username, "password": password},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return response.json()

    def token(self) -> str:
        return self.register()["access_token"]

    def list_books(self) -> list[dict[str, Any]]:
        return all_books(self.books_url)

    def add_book(
        self, token: str, title: str = "Novo Livro", author: str = "Autor"
    ) -> dict[str, Any]:
        # Tests add the same title and author often: that is not what they test.
        response = requests.post(
            f"{self.books_url}/books?allow_duplicate=true",
            json={"title": title, "author": author},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return response.json()

    def start(self) -> None:
        """Auth first (Books fetches its keys), the web service last (it calls both)."""
        try:
            for service in self.services():
                service.start()
        except Exception:
            self.stop()
            for service in self.services():
                if service.log_path is not None and service.log_path.exists():
                    print(f"--- {service.name}", service.log(), sep="\n")
            raise

    def services(self) -> list[Service]:
        return [self.auth, self.books, *([self.web] if self.web else [])]

    def stop(self) -> None:
        for service in reversed(self.services()):
            if service.process is not None:
                service.stop()

    def login(self, username: str, password: str = STRONG_PASSWORD) -> dict[str, Any]:
        response = requests.post(
            f"{self.auth_url}/login",
            json={"username": username, "password": password},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def run_demo(self) -> subprocess.CompletedProcess[str]:
        """``make demo`` against this stack, with the environment ``make run`` would give it
        (its account is created by the auth CLI in this stack's auth database)."""
        env = {
            **os.environ,
            **self.auth.env,
            "AUTH_URL": self.auth_url,
            "BOOKS_URL": self.books_url,
        }
        env.pop("DEMO_PASSWORD", None)
        return subprocess.run(
            [sys.executable, "-m", "ops.demo"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def add_people(self) -> People:
        """An administrator (from ESTANTE_ADMIN_USERNAME, see build_stack), a librarian (what
        registration gives by default) and a reader (a registered user the administrator
        demoted), each with a known password."""
        librarian = self.register(f"librarian_{uuid.uuid4().hex[:8]}")["user"]["username"]
        reader = self.register(f"reader_{uuid.uuid4().hex[:8]}")
        admin_token = self.login(ADMIN_USERNAME, ADMIN_PASSWORD)["access_token"]
        response = requests.patch(
            f"{self.auth_url}/admin/users/{reader['user']['id']}",
            json={"role": "reader"},
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return People(
            admin=(ADMIN_USERNAME, ADMIN_PASSWORD),
            librarian=(librarian, STRONG_PASSWORD),
            reader=(reader["user"]["username"], STRONG_PASSWORD),
        )


@dataclass(frozen=True)
class People:
    """(username, password) of one account per role."""

    admin: tuple[str, str]
    librarian: tuple[str, str]
    reader: tuple[str, str]


def build_stack(
    base_dir: Path,
    backend: str,
    database_urls: dict[str, str] | None = None,
    extra_env: dict[str, str] | None = None,
    *,
    with_web: bool = False,
) -> Stack:
    data_dir = base_dir / "data"
    run_dir = base_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    auth_port = free_port()
    common_env = {
        "ESTANTE_DATA_DIR": str(data_dir),
        "ESTANTE_ENV": "test",
        "ESTANTE_WORKERS": "2",
        "ESTANTE_LOG_LEVEL": "WARNING",
        # Tests make many accounts from one address; the tests of the limits turn them on.
        "RATE_LIMITS_ENABLED": "0",
        "LOGIN_THROTTLE_FREE_ATTEMPTS": "1000",
        # argon2id's cheapest parameters the settings allow (about 6 ms a hash against 37 ms at
        # the defaults): the stacks register and log in thousands of times, and none of those
        # tests is about the hash's cost. The tests of the parameters themselves (the defaults,
        # rehash on login, the memory a hash holds) build their own hashers and settings
        # (tests/unit/test_passwords.py, test_argon2_memory.py, integration/test_token_races.py);
        # the tests that need a login slow enough to catch in flight pass theirs in extra_env.
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "8192",
        **(extra_env or {}),
    }
    urls = database_urls or {}
    auth = Service(
        "auth_service",
        {**common_env, **({"AUTH_DATABASE_URL": urls["auth"]} if "auth" in urls else {})},
        port=auth_port,
        log_path=run_dir / "auth.log",
    )
    books = Service(
        "books_service",
        {
            **common_env,
            "AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
            "JWKS_REFETCH_COOLDOWN_SECONDS": "1",
            **({"BOOKS_DATABASE_URL": urls["books"]} if "books" in urls else {}),
        },
        log_path=run_dir / "books.log",
    )
    web = None
    if with_web:
        auth.env |= {
            "ESTANTE_ADMIN_USERNAME": ADMIN_USERNAME,
            "ESTANTE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
        web = Service(
            "web_service",
            {
                **common_env,
                "AUTH_URL": auth.url,
                "BOOKS_URL": books.url,
            },
            log_path=run_dir / "web.log",
        )
    return Stack(auth=auth, books=books, data_dir=data_dir, backend=backend, web=web)


def start_stack(
    request: pytest.FixtureRequest,
    base_dir: Path,
    extra_env: dict[str, str] | None = None,
    *,
    backend: str | None = None,
) -> Stack:
    """Start both services on ``backend``, by default the one ``request.param`` names ("sqlite"
    or "postgres", whose databases the session's ``postgres`` fixture creates)."""
    backend = backend or request.param
    urls = None
    if backend == "postgres":
        server = request.getfixturevalue("postgres")
        urls = {"auth": server.create_database("auth"), "books": server.create_database("books")}
    stack = build_stack(base_dir, backend, urls, extra_env)
    try:
        stack.auth.start()
        stack.books.start()
    except Exception:
        stack.stop()
        print(stack.auth.log(), stack.books.log() if stack.books.log_path.exists() else "")
        raise
    return stack


def query_auth_database(stack: Stack, sql: str, **params: Any) -> list[Any]:
    """Read the auth service's own database, as someone who stole a copy of it would."""
    engine = create_db_engine(stack.database_url("auth"))
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql), params).all())
    finally:
        engine.dispose()


def requests_total(metrics: str, method: str, route: str, status: int) -> float:
    pattern = (
        rf'estante_http_requests_total\{{[^}}]*method="{method}"[^}}]*route="{re.escape(route)}"'
        rf'[^}}]*status="{status}"[^}}]*\}} ([0-9.e+]+)'
    )
    return sum(float(value) for value in re.findall(pattern, metrics))


def all_books(books_url: str, origin: str | None = None) -> list[dict[str, Any]]:
    """The whole catalog, following the pages' next links (relative to ``origin``)."""
    origin = origin or books_url
    books: list[dict[str, Any]] = []
    url: str | None = f"{books_url}/books?limit=500"
    while url:
        response = requests.get(url, timeout=30)
        assert response.status_code == 200, response.text
        books += response.json()
        next_link = response.links.get("next", {}).get("url")
        url = f"{origin}{next_link}" if next_link else None
    return books
