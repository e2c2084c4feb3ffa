"""Fixtures shared by every test layer: the real PostgreSQL server, when there is one, and the
three services with the web interface."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.support.harness import People, Stack, build_stack
from tests.support.postgres import (
    POSTGRES_ADMIN_URL,
    REQUIRE_POSTGRES,
    PostgresServer,
    postgres_unavailable_reason,
)

# Hypothesis's deadline (200 ms an example) and its check that examples are generated quickly
# time the machine, not the code: on a busy one (three test processes and the services they
# start, on two cores) they failed tests whose every assertion held. Speed is measured in
# bench/, never asserted in a test.
settings.register_profile("estante", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("estante")


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
