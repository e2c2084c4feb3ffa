"""The caches' reader of the catalog's version: the same number the catalog's own read gives,
a change committed through any other connection seen at once, a bounded number of connections
(one per process on PostgreSQL), and none left open once the engine is disposed."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from books_service import catalog, counts, page_cache
from books_service.book_rules import validate_book
from books_service.page_cache import MAX_IDLE_READERS, VersionReader
from common import migrations
from common.db import Database


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("versions") / "books.db"
    migrations.upgrade("books", f"sqlite:///{path}")
    return path


@pytest.fixture
def path(migrated: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "books.db"
    shutil.copy(migrated, copy)
    return copy


@pytest.fixture
def db(path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


def version(db: Database) -> int:
    with db.read() as session:
        return counts.catalog_version(session)


def add(db: Database, title: str) -> None:
    with db.transaction() as session:
        catalog.add_book(session, validate_book({"title": title, "author": "Ana"}), by="ana")


def open_files(path: Path) -> int:
    """How many of this process's file descriptors are the database file."""
    found = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            found += os.readlink(fd) == str(path)
        except OSError:
            continue
    return found


def test_it_reads_the_catalogs_version_and_every_change_another_replica_commits(
    db: Database, path: Path
) -> None:
    reader = VersionReader(db)
    assert reader.read() == version(db)
    other = Database(f"sqlite:///{path}")  # another replica on the same database
    try:
        for n in range(3):
            before = reader.read()  # its connection stays open, idle, between the reads
            add(other, f"Livro {n}")
            assert reader.read() == version(other) == before + 1
    finally:
        other.dispose()


def test_threads_reading_at_once_keep_a_bounded_number_of_connections(
    db: Database, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[sqlite3.Connection] = []
    connect = sqlite3.connect

    def counted(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        made.append(connect(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(page_cache.sqlite3, "connect", counted)
    reader = VersionReader(db)
    start = threading.Barrier(MAX_IDLE_READERS * 2)
    seen: list[int] = []

    def read() -> None:
        start.wait()
        seen.extend(reader.read() for _ in range(20))

    threads = [threading.Thread(target=read) for _ in range(MAX_IDLE_READERS * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(seen) == {version(db)}
    assert 1 <= len(made) <= MAX_IDLE_READERS  # the threads beyond them read on the pool
    # SQLite keeps a closed connection's file open while others of the process hold it, so the
    # files are counted once the reader's connections and the pool's are all closed.
    reader.close()
    db.engine.pool.dispose()
    assert open_files(path) == 0


def test_disposing_of_the_engine_closes_the_readers_connections(db: Database, path: Path) -> None:
    reader = VersionReader(db)
    reader.read()
    assert open_files(path) >= 1
    db.dispose()
    assert open_files(path) == 0
    add(db, "Depois")  # the database still works, and so does the reader: it opens anew
    assert reader.read() == version(db)


def connections_to(postgres: Any, url: str) -> int:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(postgres.admin_url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_on_postgresql_it_keeps_one_connection_whatever_the_threads_and_closes_it(
    postgres: Any,
) -> None:
    url = postgres.create_database("versions")
    migrations.upgrade("books", url)
    db = Database(url)
    try:
        reader = VersionReader(db)
        seen: list[int] = []
        threads = [
            threading.Thread(target=lambda: seen.extend(reader.read() for _ in range(20)))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert set(seen) == {version(db)}
        add(db, "Outro")
        assert reader.read() == version(db)
        db.engine.pool.dispose()  # the pool's connections are closed: only the reader's remains
        assert connections_to(postgres, url) == 1
        db.dispose()
        assert connections_to(postgres, url) == 0
    finally:
        db.dispose()


@pytest.fixture
def postgres_db(postgres: Any) -> Iterator[Database]:
    url = postgres.create_database("versions")
    migrations.upgrade("books", url)
    database = Database(url)
    yield database
    database.dispose()


def test_on_postgresql_a_read_after_another_replicas_commit_sees_it_while_other_threads_read(
    postgres_db: Database,
) -> None:
    """A read waiting for its turn may take the answer of a read that started after it arrived,
    never of one already under way: that one may have started before the commit."""
    reader = VersionReader(postgres_db)
    other = Database(str(postgres_db.engine.url.render_as_string(hide_password=False)))
    stop = threading.Event()
    background_seen: list[int] = []

    def keep_reading() -> None:
        while not stop.is_set():
            background_seen.append(reader.read())

    threads = [threading.Thread(target=keep_reading) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for n in range(40):
            add(other, f"Livro {n}")
            committed = version(other)
            assert reader.read() == committed, f"stale after commit {n}"
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        other.dispose()
    assert background_seen == sorted(background_seen)  # never goes back


def test_on_postgresql_a_lost_connection_is_read_around_and_then_replaced(
    postgres: Any, postgres_db: Database
) -> None:
    reader = VersionReader(postgres_db)
    reader.read()
    url = str(postgres_db.engine.url)
    with psycopg.connect(postgres.admin_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND query LIKE %s",
            (url.rsplit("/", 1)[1], "%book_counts%"),
        )
    add(postgres_db, "Depois")
    assert reader.read() == version(postgres_db)  # the pool's connection, while it is lost
    add(postgres_db, "Mais")
    assert reader.read() == version(postgres_db)  # a connection of its own again
    postgres_db.engine.pool.dispose()
    assert connections_to(postgres, url) == 1
