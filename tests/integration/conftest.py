"""Integration fixtures: both real services over HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.harness import Stack, start_stack


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One running pair of services per backend, shared by the tests that only add data."""
    running = start_stack(request, tmp_path_factory.mktemp(f"stack-{request.param}"))
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
