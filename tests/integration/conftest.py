"""Integration fixtures: both real services over HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.harness import Stack, start_stack
from tests.support.postgres import PostgresServer


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest) -> Stack:
    """One running pair of services per backend, shared by the tests that only add data.

    Module-scoped only so that the tests of a module run one backend after the other; the pair
    itself lives for the whole test process (``sqlite_stack``, ``postgres_stack``). A
    session-scoped fixture with parameters is started again each time the parameter changes,
    and under pytest-xdist's ``--dist loadscope`` that is at every module: twenty-six pairs
    started instead of four."""
    running: Stack = request.getfixturevalue(f"{request.param}_stack")
    return running


@pytest.fixture(scope="session")
def sqlite_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_stack(request, tmp_path_factory.mktemp("stack-sqlite"), backend="sqlite")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def postgres_stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresServer,
) -> Iterator[Stack]:
    """Depends on ``postgres`` by name: stopped before its databases are dropped."""
    running = start_stack(request, tmp_path_factory.mktemp("stack-postgres"), backend="postgres")
    yield running
    running.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def own_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """A private pair of services, for tests that stop or restart them."""
    running = start_stack(request, tmp_path)
    yield running
    running.stop()


# The web service in front of a private pair of APIs, one per test module (tests/support/web.py).
from tests.support.web import web, web_apis  # noqa: E402, F401
