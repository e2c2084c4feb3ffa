"""Fixtures shared by every test layer: the real PostgreSQL server, when there is one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import (
    POSTGRES_ADMIN_URL,
    REQUIRE_POSTGRES,
    PostgresServer,
    postgres_unavailable_reason,
)


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
