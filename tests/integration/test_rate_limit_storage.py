"""The request limits' counters in the auth database (auth_service/rate_limit_storage.py), on
both databases: fixed windows that count every hit, end and start again; and on SQLite hits
queued together share one transaction with the other writes queued with them."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from auth_service import rate_limit_storage
from auth_service.rate_limit_storage import DatabaseStorage
from common import migrations
from common.db import Database
from tests.support.group_commit import run_grouped
from tests.support.postgres import PostgresServer

KEY = "LIMITER/192.0.2.1/auth.refresh:refresh/60/1/minute"


def _migrated(url: str) -> Iterator[Database]:
    migrations.upgrade("auth", url)
    database = Database(url)
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield from _migrated(f"sqlite:///{tmp_path / 'auth.db'}")
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        yield from _migrated(server.create_database("rate_limits"))


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    yield from _migrated(f"sqlite:///{tmp_path / 'auth.db'}")


def test_a_window_counts_every_hit_and_tells_when_it_ends(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rate_limit_storage.time, "time", lambda: 1000.0)
    storage = DatabaseStorage(database=db)
    assert storage.get(KEY) == 0
    assert [storage.incr(KEY, 60) for _ in range(3)] == [1, 2, 3]
    assert storage.incr(KEY, 60, amount=2) == 5
    assert storage.get(KEY) == 5
    assert storage.get_expiry(KEY) == 1060.0
    assert storage.get("another key") == 0


def test_an_ended_window_starts_again_with_the_next_hit(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(rate_limit_storage.time, "time", lambda: clock[0])
    storage = DatabaseStorage(database=db)
    storage.incr(KEY, 60)
    storage.incr(KEY, 60)
    clock[0] = 1060.0
    assert storage.get(KEY) == 0  # ended: nothing counted, and it ends now
    assert storage.get_expiry(KEY) == 1060.0
    assert storage.incr(KEY, 60) == 1
    assert storage.get_expiry(KEY) == 1120.0


def test_ended_windows_are_deleted_every_so_many_hits(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(rate_limit_storage.time, "time", lambda: clock[0])
    monkeypatch.setattr(rate_limit_storage, "CLEANUP_EVERY", 3)
    storage = DatabaseStorage(database=db)
    storage.incr("old", 10)
    clock[0] = 2000.0
    storage.incr(KEY, 60)
    with db.read() as session:
        assert session.query(rate_limit_storage.RateLimitCounter).count() == 2
    storage.incr(KEY, 60)  # the third hit
    with db.read() as session:
        keys = session.query(rate_limit_storage.RateLimitCounter).count()
    assert keys == 1


def test_hits_queued_together_share_one_commit_and_none_is_lost(sqlite_db: Database) -> None:
    db = sqlite_db
    assert db.groups is not None
    storage = DatabaseStorage(database=db)
    storage.incr(KEY, 60)  # the installation's secret made beforehand, outside the group
    commits = db.groups.commits
    outcomes = run_grouped(db, [partial(storage.incr, KEY, 60) for _ in range(5)])
    assert outcomes == [("ok", hits) for hits in range(2, 7)]
    assert db.groups.commits - commits == 1
    assert storage.get(KEY) == 6
