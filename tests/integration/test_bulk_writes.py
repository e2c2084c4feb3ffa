"""A series of write transactions on one kept SQLite connection (an import's batches): each
commits as :meth:`Database.transaction`'s would, the WAL is checkpointed by the series' own
thread and stays bounded though the connection's own checkpoints are off, and the connection
goes back to the pool with its settings as they were."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common import bulk_writes
from common.bulk_writes import BulkWrites
from common.db import Database
from tests.support.postgres import PostgresServer

ROW = "x" * 3000  # most of a 4 KiB page: each row dirties a page of its own


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'books.db'}")
    with database.transaction() as session:
        session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT UNIQUE)"))
    yield database
    database.dispose()


def _pragma(db: Database, name: str) -> int:
    with db.write_connection() as connection:
        return int(connection.exec_driver_sql(f"PRAGMA {name}").scalar_one())


def _count(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(text("SELECT count(*) FROM notes")) or 0)


def test_each_transaction_of_a_series_commits_on_its_own(db: Database) -> None:
    with BulkWrites(db, cache_mib=8) as writes:
        for n in range(3):
            with writes.transaction() as session:
                session.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": f"{n}"})
            assert _count(db) == n + 1  # seen by another connection at once


def test_a_failed_transaction_of_a_series_changes_nothing_and_the_next_one_commits(
    db: Database,
) -> None:
    with BulkWrites(db, cache_mib=8) as writes:
        with writes.transaction() as session:
            session.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
        with pytest.raises(IntegrityError), writes.transaction() as session:
            session.execute(text("INSERT INTO notes (body) VALUES ('lost')"))
            session.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
        with writes.transaction() as session:
            session.execute(text("INSERT INTO notes (body) VALUES ('next')"))
    with db.read() as session:
        bodies = session.scalars(text("SELECT body FROM notes ORDER BY id")).all()
    assert bodies == ["kept", "next"]


def test_a_transaction_after_the_series_ended_is_an_ordinary_one(db: Database) -> None:
    with BulkWrites(db, cache_mib=8) as writes:
        pass
    with writes.transaction() as session:
        session.execute(text("INSERT INTO notes (body) VALUES ('after')"))
        assert session.execute(text("PRAGMA cache_size")).scalar_one() == -2000
    assert _count(db) == 1


def test_the_series_writes_with_its_own_cache_and_without_its_own_checkpoints(
    db: Database,
) -> None:
    with BulkWrites(db, cache_mib=8) as writes, writes.transaction() as session:
        assert session.execute(text("PRAGMA cache_size")).scalar_one() == -8 * 1024
        assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 0


def test_the_connection_goes_back_to_the_pool_as_it_was(db: Database) -> None:
    before = (_pragma(db, "cache_size"), _pragma(db, "wal_autocheckpoint"))
    with BulkWrites(db, cache_mib=8) as writes, writes.transaction() as session:
        session.execute(text("INSERT INTO notes (body) VALUES ('one')"))
    assert (_pragma(db, "cache_size"), _pragma(db, "wal_autocheckpoint")) == before
    assert before == (-2000, 1000)  # SQLite's own defaults


def test_the_wal_stays_bounded_though_the_writer_never_checkpoints(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_writes, "WAL_LIMIT_PAGES", 40)
    wal = tmp_path / "books.db-wal"
    largest = 0
    with BulkWrites(db, cache_mib=8) as writes:
        for n in range(60):
            with writes.transaction() as session:
                for k in range(10):
                    body = f"{n}-{k}-{ROW}"
                    session.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})
            largest = max(largest, wal.stat().st_size)
    # A transaction here is ~55 pages (10 rows of most of a page, and their index's). The 60
    # of them without a checkpoint, or without the WAL started over, would make a WAL of over
    # 3,000 pages; with a checkpoint after each commit and the writer waiting past 40 pages,
    # it starts over every two or three transactions.
    assert largest < 400 * 4096, largest
    assert _count(db) == 600


@pytest.fixture
def pg_db(postgres: PostgresServer) -> Iterator[Database]:
    """A new PostgreSQL database with an empty ``notes`` table."""
    database = Database(postgres.create_database("bulk_writes"))
    with database.transaction() as session:
        session.execute(text("CREATE TABLE notes (id serial PRIMARY KEY, body text)"))
    yield database
    database.dispose()


def _add_notes(session: Session, rows: int) -> None:
    session.execute(
        text("INSERT INTO notes (body) SELECT 'x' FROM generate_series(1, :n)"), {"n": rows}
    )


def _rows_planned_for(db: Database, table: str) -> float:
    """What PostgreSQL's planner believes ``table`` holds: -1 until it was first analyzed."""
    with db.read() as session:
        return float(
            session.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                {"t": table},
            ).scalar_one()
        )


def test_on_postgresql_a_series_is_plain_transactions(pg_db: Database) -> None:
    with BulkWrites(pg_db, cache_mib=8) as writes:
        with writes.transaction() as session:
            _add_notes(session, 1)
        with writes.transaction() as session:
            _add_notes(session, 1)
    assert _count(pg_db) == 2


def test_on_postgresql_a_series_analyzes_the_tables_it_fills_as_they_grow(
    pg_db: Database,
) -> None:
    with pg_db.transaction() as session:
        session.execute(text("CREATE TABLE other (id serial PRIMARY KEY)"))
        session.execute(text("INSERT INTO other SELECT FROM generate_series(1, 5000)"))
    seen = []
    with BulkWrites(pg_db, cache_mib=8, analyze=("notes",)) as writes:
        for _ in range(4):
            with writes.transaction() as session:
                _add_notes(session, 15000)
                session.execute(text("INSERT INTO other SELECT FROM generate_series(1, 10)"))
            writes.statistics_caught_up()
            seen.append(_rows_planned_for(pg_db, "notes"))
    # Analyzed when it has grown by more than it held (plus 10,000 rows), not after every
    # transaction; then once more at the end, by autovacuum's rule (a tenth).
    assert seen == [15000, 15000, 45000, 45000], seen
    assert _rows_planned_for(pg_db, "notes") == 60000
    assert _rows_planned_for(pg_db, "other") == -1  # not one of the series' tables


def test_on_postgresql_the_writer_goes_on_while_a_table_waits_for_its_analyze(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_writes, "LOCK_WAIT", "60s")
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE query LIKE 'ANALYZE%' AND wait_event_type = 'Lock'"
    )
    with pg_db.engine.connect() as vacuuming:
        vacuuming.execute(text("LOCK TABLE notes IN SHARE UPDATE EXCLUSIVE MODE"))
        with BulkWrites(pg_db, cache_mib=8, analyze=("notes",)) as writes:
            with writes.transaction() as session:
                _add_notes(session, 15000)  # doubled: due for an ANALYZE, which must wait
            for _ in range(50):
                with pg_db.read() as session:
                    if session.scalar(waiting):
                        break
                time.sleep(0.1)
            with writes.transaction() as session:  # not behind it
                _add_notes(session, 1)
            with pg_db.read() as session:
                assert session.scalar(waiting) == 1
            vacuuming.rollback()
            writes.statistics_caught_up()
            assert _rows_planned_for(pg_db, "notes") == 15001
    assert _count(pg_db) == 15001


def test_on_postgresql_a_series_that_raises_is_not_analyzed_at_its_end(pg_db: Database) -> None:
    with pytest.raises(RuntimeError), BulkWrites(pg_db, cache_mib=8, analyze=("notes",)) as w:
        with w.transaction() as session:
            _add_notes(session, 500)
        raise RuntimeError("the job stopped")
    assert _rows_planned_for(pg_db, "notes") == -1


def test_on_postgresql_a_series_goes_on_when_its_tables_cannot_be_analyzed(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(bulk_writes, "LOCK_WAIT", "50ms")
    with pg_db.engine.connect() as vacuuming:
        # What an operator's VACUUM holds for as long as it runs.
        vacuuming.execute(text("LOCK TABLE notes IN SHARE UPDATE EXCLUSIVE MODE"))
        with BulkWrites(pg_db, cache_mib=8, analyze=("notes",)) as writes:
            for _ in range(2):
                with writes.transaction() as session:
                    _add_notes(session, 15000)
        vacuuming.rollback()
    assert _count(pg_db) == 30000
    assert _rows_planned_for(pg_db, "notes") == -1
    assert "could not analyze notes" in caplog.text


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_the_series_cache_is_given_back_to_the_system_when_it_ends(db: Database) -> None:
    with db.transaction() as session:
        for n in range(12_000):  # ~40 MB of pages
            session.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": f"{n}-{ROW}"})
    before = _rss_kib()
    with BulkWrites(db, cache_mib=64) as writes:
        with writes.transaction() as session:
            session.execute(text("SELECT sum(length(body)) FROM notes")).one()
        during = _rss_kib()
    after = _rss_kib()
    assert during - before > 30_000  # the cache held the table's pages
    assert after - before < (during - before) / 4, (before, during, after)


def test_when_the_checkpoints_thread_fails_the_writer_checkpoints_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(connection: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(bulk_writes, "configure_sqlite", broken)
    with BulkWrites(db, cache_mib=8) as writes:
        with writes.transaction() as session:
            session.execute(text("INSERT INTO notes (body) VALUES ('one')"))
        deadline = time.monotonic() + 30  # the thread fails at once and ends
        while any(t.name == "estante-checkpoints" for t in threading.enumerate()):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with writes.transaction() as session:
            session.execute(text("INSERT INTO notes (body) VALUES ('two')"))
            assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 1000
    assert _count(db) == 2
