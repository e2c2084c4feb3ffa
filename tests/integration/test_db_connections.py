"""PostgreSQL's connections as :mod:`common.db` uses them: a pooled connection is checked
without a round trip when it is checked out, pinged and replaced only when it may be gone; and
statements sent at once (:meth:`common.db.Database.at_once`) commit together or not at all,
and one alone (:meth:`~common.db.Database.alone`) is its own transaction, each leaving the
pool's connection as they found it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from common.db import Database
from common.dbapi import left_as_it_was
from common.prepared import Prepared
from tests.support.harness import free_port
from tests.support.postgres import PostgresServer

_metadata = MetaData()
probes = Table(
    "probes",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("note", Text, nullable=False),
)
ADD = Prepared(
    insert(probes)
    .values(id=bindparam("id"), note=bindparam("note"))
    .returning(probes.c.id, probes.c.note)
)
NOTE = Prepared(select(probes.c.note).where(probes.c.id == bindparam("id")))
LOCK = Prepared(select(text("pg_advisory_xact_lock(42)")))
# The server process ends itself: the connection is lost in the middle of a transaction.
LOSE = Prepared(select(text("pg_terminate_backend(pg_backend_pid())")))


@pytest.fixture
def server(request: pytest.FixtureRequest) -> PostgresServer:
    postgres: PostgresServer = request.getfixturevalue("postgres")
    return postgres


@pytest.fixture
def db(server: PostgresServer) -> Iterator[Database]:
    database = Database(server.create_database("connections"), pool_size=1, max_overflow=0)
    _metadata.create_all(database.engine)
    yield database
    database.dispose()


def end_backends(server: PostgresServer, db: Database) -> None:
    """End every server process of ``db``'s database, waiting until each has exited (so its
    end has reached the client's socket)."""
    name = db.url.rsplit("/", 1)[1]
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = %s",
            [name],
        ).fetchall()
    assert ended and all(row[0] for row in ended)


def at_once(db: Database, steps: list[tuple[Prepared, dict[str, Any]]]) -> list[Any]:
    """``steps`` sent at once; each one's first row."""
    with db.at_once() as statements:
        sent = [statements.queue(statement, params) for statement, params in steps]
    return [cursor.fetchone() for cursor in sent]


def notes(db: Database) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(probes.c.note).order_by(probes.c.id)))


def pings_counted(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    pings: list[Any] = []
    ping = db.engine.dialect.do_ping

    def counted(connection: Any) -> bool:
        pings.append(connection)
        return ping(connection)

    monkeypatch.setattr(db.engine.dialect, "do_ping", counted)
    return pings


def test_a_connection_left_as_it_was_is_used_without_a_ping(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = pings_counted(db, monkeypatch)
    for _ in range(5):
        assert notes(db) == []
    assert pings == []


def test_a_connection_whose_server_process_ended_is_pinged_and_replaced_before_use(
    server: PostgresServer, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    at_once(db, [(ADD, {"id": 1, "note": "before"})])
    pings = pings_counted(db, monkeypatch)
    end_backends(server, db)
    assert notes(db) == ["before"]  # no error: a new connection
    assert len(pings) == 1
    end_backends(server, db)
    assert at_once(db, [(ADD, {"id": 2, "note": "after"})]) == [(2, "after")]
    assert notes(db) == ["before", "after"]


def test_a_connection_is_left_as_it_was_until_its_server_ends_it_or_it_is_closed(
    server: PostgresServer,
) -> None:
    url = server.create_database("left_as_it_was").replace("+psycopg", "")
    connection = psycopg.connect(url, autocommit=True)
    connection.execute("SELECT 1")
    assert left_as_it_was(connection)
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 10000)", [connection.info.backend_pid])
    assert not left_as_it_was(connection)
    connection.close()
    assert not left_as_it_was(connection)


def test_statements_sent_at_once_give_each_first_row_and_commit_together(db: Database) -> None:
    rows = at_once(
        db, [(LOCK, {}), (ADD, {"id": 1, "note": "one"}), (ADD, {"id": 2, "note": "two"})]
    )
    assert len(rows) == 3 and rows[1:] == [(1, "one"), (2, "two")]
    assert notes(db) == ["one", "two"]


def test_a_read_at_once_answers_in_the_transaction_before_the_rest_is_queued(
    db: Database,
) -> None:
    at_once(db, [(ADD, {"id": 1, "note": "one"})])
    with db.at_once() as statements:
        assert statements.first(NOTE, {"id": 7}) is None
        first = statements.first(NOTE, {"id": 1})
        assert first == {"note": "one"}
        added = statements.queue(ADD, {"id": 2, "note": first["note"] + " more"})
    assert added.fetchone() == (2, "one more")
    assert notes(db) == ["one", "one more"]


def test_an_error_raised_between_statements_at_once_rolls_back_all_of_them(db: Database) -> None:
    with pytest.raises(RuntimeError), db.at_once() as statements:
        statements.queue(ADD, {"id": 1, "note": "queued"})
        assert statements.first(NOTE, {"id": 1}) == {"note": "queued"}
        raise RuntimeError("the caller's own error")
    assert notes(db) == []


def test_a_statement_that_fails_among_others_sent_at_once_commits_none_of_them(
    db: Database,
) -> None:
    at_once(db, [(ADD, {"id": 1, "note": "kept"})])
    with pytest.raises(IntegrityError):
        at_once(db, [(ADD, {"id": 2, "note": "lost"}), (ADD, {"id": 1, "note": "again"})])
    assert notes(db) == ["kept"]
    # The pool's one connection is back as it was: no transaction open, not in autocommit.
    with db.engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        assert driver.info.transaction_status.name == "IDLE" and driver.autocommit is False
        connection.execute(insert(probes).values(id=3, note="in a transaction"))
        connection.rollback()
    assert notes(db) == ["kept"]


def test_statements_at_once_on_a_connection_lost_meanwhile_commit_nothing_and_fail_as_unavailable(
    db: Database,
) -> None:
    """The server process gone in the middle: the request fails as the database being
    unavailable (the 503), nothing is committed, and the lost connection leaves the pool."""
    with pytest.raises(OperationalError):
        at_once(db, [(ADD, {"id": 1, "note": "lost"}), (LOSE, {})])
    assert at_once(db, [(ADD, {"id": 2, "note": "found"})]) == [(2, "found")]
    assert notes(db) == ["found"]


def test_a_statement_alone_is_committed_as_it_ends_and_leaves_the_connection_as_it_was(
    db: Database,
) -> None:
    assert db.alone(ADD, {"id": 1, "note": "alone"}) == {"id": 1, "note": "alone"}
    with pytest.raises(IntegrityError):
        db.alone(ADD, {"id": 1, "note": "again"})
    assert notes(db) == ["alone"]
    with db.engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        assert driver.info.transaction_status.name == "IDLE" and driver.autocommit is False


def test_statements_sent_at_once_to_a_database_out_of_reach_fail_as_unavailable() -> None:
    unreachable = Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    with pytest.raises(OperationalError):
        at_once(unreachable, [(ADD, {"id": 1, "note": "nowhere"})])
    with pytest.raises(OperationalError):
        unreachable.alone(ADD, {"id": 1, "note": "nowhere"})
