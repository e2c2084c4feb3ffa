"""The session stores, on a real SQLite file, a real PostgreSQL and a real Redis: the same
behaviour from all three."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from common import migrations
from common.clock import utcnow
from common.db import Database
from common.dbapi import DbApiDatabase
from tests.support.postgres import PostgresServer
from tests.support.redis_server import REDIS_URL, require_redis
from web_service.models import WebSessionRow
from web_service.session_store import (
    RedisSessionStore,
    SessionRecord,
    SessionStore,
    SessionStoreDown,
    SqlSessionStore,
)


def redis_store() -> RedisSessionStore:
    require_redis()
    return RedisSessionStore(REDIS_URL, f"estante-test-{uuid.uuid4().hex[:8]}")


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionStore]:
    if request.param == "redis":
        yield redis_store()
        return
    yield from sql_store(request, tmp_path, request.param)


def sql_store(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> Iterator[SqlSessionStore]:
    if kind == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database("websessions")
    else:
        url = f"sqlite:///{tmp_path / 'web.db'}"
    migrations.upgrade("web", url)
    db = DbApiDatabase(url)
    yield SqlSessionStore(db)
    db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def sql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlSessionStore]:
    yield from sql_store(request, tmp_path, request.param)


def record(id_hash: str | None = None, expires_in: float = 3600) -> SessionRecord:
    now = utcnow().replace(microsecond=0)
    return SessionRecord(
        id_hash=id_hash or uuid.uuid4().hex * 2,
        user_id=7,
        username="ana",
        roles=("librarian",),
        access_token="access-1",
        access_expires_at=now + timedelta(minutes=15),
        refresh_token="refresh-1",
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in),
    )


def test_a_saved_session_reads_back_whole(store: SessionStore) -> None:
    saved = record()
    store.save(saved)
    assert store.get(saved.id_hash) == saved


def test_an_unknown_session_is_none(store: SessionStore) -> None:
    assert store.get("0" * 64) is None


def test_saving_again_replaces_the_tokens(store: SessionStore) -> None:
    saved = record()
    store.save(saved)
    renewed = saved.with_tokens("access-2", saved.access_expires_at, "refresh-2", ("admin",), "ana")
    store.save(renewed)
    assert store.get(saved.id_hash) == renewed


def test_a_deleted_session_is_gone(store: SessionStore) -> None:
    saved = record()
    store.save(saved)
    store.delete(saved.id_hash)
    assert store.get(saved.id_hash) is None


def test_an_expired_session_is_none(store: SessionStore) -> None:
    saved = record(expires_in=-1)
    store.save(saved)
    assert store.get(saved.id_hash) is None


def test_the_refresh_lock_is_held_by_one_until_released(store: SessionStore) -> None:
    saved = record()
    store.save(saved)
    assert store.try_lock(saved.id_hash, 30)
    assert not store.try_lock(saved.id_hash, 30)
    store.unlock(saved.id_hash)
    assert store.try_lock(saved.id_hash, 30)


def test_a_lock_left_by_a_crashed_request_expires(store: SessionStore) -> None:
    saved = record()
    store.save(saved)
    assert store.try_lock(saved.id_hash, 0.001)
    import time

    time.sleep(0.05)
    assert store.try_lock(saved.id_hash, 30)


def test_the_stores_say_they_are_ready(store: SessionStore) -> None:
    assert store.ping() is None


def test_sql_store_prunes_expired_sessions_when_a_new_one_comes(sql: SqlSessionStore) -> None:
    old = record(expires_in=-10)
    sql.save(old)
    sql.save(record())
    with sql.db.read() as statements:
        hashes = [row[0] for row in statements.execute("SELECT id_hash FROM web_sessions")]
    assert old.id_hash not in hashes
    assert len(hashes) == 1


def test_sql_store_keeps_the_records_sqlalchemy_kept(sql: SqlSessionStore) -> None:
    """The same rows as the SQLAlchemy model wrote and read (times, roles, the lock): sessions
    saved before the change still open, and the other way round."""
    before = record()
    orm = Database(sql.db.url)
    with orm.transaction() as session:
        values = {**before.__dict__, "roles": "librarian,admin"}
        session.add(WebSessionRow(**values, refresh_lock_until=None))
    assert sql.get(before.id_hash) == SessionRecord(
        **{**before.__dict__, "roles": ("librarian", "admin")}
    )
    after = record()
    sql.save(after)
    assert sql.try_lock(after.id_hash, 30)
    with orm.read() as session:
        row = session.get(WebSessionRow, after.id_hash)
        assert row is not None
        assert row.roles == "librarian"
        assert (row.expires_at.replace(tzinfo=None), row.refresh_token) == (
            after.expires_at.replace(tzinfo=None),
            after.refresh_token,
        )
        assert row.refresh_lock_until is not None
    orm.dispose()


def test_a_sql_store_whose_database_is_gone_is_down_not_an_error(tmp_path: Path) -> None:
    """The 503 page's error: the database unreachable is SessionStoreDown, and not ready."""
    store = SqlSessionStore(DbApiDatabase(f"sqlite:///{tmp_path / 'missing' / 'web.db'}"))
    with pytest.raises(SessionStoreDown):
        store.get("0" * 64)
    with pytest.raises(SessionStoreDown):
        store.save(record())
    assert store.ping() == "session database unusable (OperationalError)"


def test_a_postgresql_connection_lost_between_requests_is_reopened(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """As SQLAlchemy's pre-ping did: a server restarted (or a connection cut) since the last
    request is no error for the next one."""
    store = next(sql_store(request, tmp_path, "postgres"))
    saved = record()
    store.save(saved)
    import psycopg

    server: PostgresServer = request.getfixturevalue("postgres")
    name = store.db.url.rsplit("/", 1)[1]
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute(
            # Waiting until each has exited: the cut is done before the next request.
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = %s",
            [name],
        )
    assert store.get(saved.id_hash) == saved
    store.db.dispose()
