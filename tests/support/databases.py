"""A service's database at a URL, migrated to head, for tests that call domain code directly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from common import migrations
from common.db import Database


@contextmanager
def migrated(service: str, url: str) -> Iterator[Database]:
    """``service``'s schema ("auth", "books") migrated at ``url``; the engine disposed after."""
    migrations.upgrade(service, url)
    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()
