"""Fixtures shared by every test layer: the real PostgreSQL server, when there is one, and the
three services with the web interface."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from tests.integration.harness import People, Stack, build_stack

POSTGRES_ADMIN_URL = os.environ.get(
    "ESTANTE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("ESTANTE_REQUIRE_POSTGRES") == "1"


def postgres_unavailable_reason() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {error}".strip()


@dataclass
class PostgresServer:
    admin_url: str

    def create_database(self, label: str) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL. Dropped by the fixture."""
        name = f"estante_test_{label}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._created.append(name)
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self._created:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        self._created.clear()

    def __post_init__(self) -> None:
        self._created: list[str] = []


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    reason = postgres_unavailable_reason()
    if reason:
        if REQUIRE_POSTGRES:
            pytest.fail(f"ESTANTE_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    server = PostgresServer(POSTGRES_ADMIN_URL)
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def web_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Auth, Books and Web as real processes on free ports (SQLite), shared by the browser tests
    and the web service's HTTP tests."""
    stack = build_stack(tmp_path_factory.mktemp("web-stack"), "sqlite", with_web=True)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def people(web_stack: Stack) -> People:
    """One account per role on the web stack: administrator, librarian, reader."""
    return web_stack.add_people()
