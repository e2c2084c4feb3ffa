"""The real PostgreSQL server of the tests: reachable or not, and throw-away databases on it."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
from psycopg import sql

POSTGRES_ADMIN_URL = os.environ.get(
    "ESTANTE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("ESTANTE_REQUIRE_POSTGRES") == "1"
# Connections a test process opens at once to drop its databases (the server's limit is shared
# by every test process and the services they run).
DROPS_AT_ONCE = 8


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
        """Several at once: PostgreSQL makes each DROP DATABASE wait for a checkpoint (about 3 s
        on a busy machine), and the drops waiting together share one. One after the other, a
        test process's thirty-odd databases held up the end of its run by a minute or two."""
        with ThreadPoolExecutor(max_workers=DROPS_AT_ONCE) as pool:
            list(pool.map(self._drop, self._created))
        self._created.clear()

    def _drop(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def __post_init__(self) -> None:
        self._created: list[str] = []
