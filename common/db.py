"""Database engines and transactions, the same for SQLite and PostgreSQL.

SQLite is tuned so that several worker processes can write at once without "database is
locked": WAL (readers never block the writer), a busy timeout (a writer waits for the lock
instead of failing), and write transactions that take the write lock up front with
``BEGIN IMMEDIATE`` (a deferred transaction that upgrades from read to write can fail with
SQLITE_BUSY without waiting at all).

SQLite has one writer at a time, and a writer that finds the lock taken does not queue for it:
its busy handler sleeps and tries again, sleeping longer each time (up to 100 ms), so under many
concurrent writes most of the time went to sleeping while the lock was free (issue 12: 163
``POST /books`` a second at c=64, p99 1.2 s). Write transactions therefore queue first at a
:class:`WriteGate`: a lock shared by the threads of a process and, through ``flock`` on a file
beside the database, by every process on the machine, which hands the turn over as soon as it is
released. SQLite's own lock and busy timeout stay underneath for writers that do not pass the
gate (a command run by hand, another machine's process on a shared volume).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from common.at_once import AtOnce, run_alone, run_alone_rows, transaction_at_once

# Shared with the web service's sessions, which reach their database without SQLAlchemy.
from common.dbapi import SQLITE_BUSY_TIMEOUT_MS as SQLITE_BUSY_TIMEOUT_MS
from common.dbapi import WriteGate as WriteGate
from common.dbapi import configure_sqlite, left_as_it_was
from common.dbapi import is_sqlite as is_sqlite
from common.dbapi import normalise_url as normalise_url
from common.dbapi import sqlite_file as sqlite_file
from common.group_commit import GroupCommit
from common.prepared import Prepared

T = TypeVar("T")
# One statement run alone (Database.each_alone): its first row, or None.
RunAlone = Callable[[Prepared, Mapping[str, Any]], "dict[str, Any] | None"]
_WRITE_OPTION = "estante_write"


# Constraint names that are the same on SQLite and PostgreSQL, so migrations can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata() -> MetaData:
    """Fresh metadata for one service's tables (each service owns its own)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if not is_sqlite(url):
        return _postgresql_engine(url, **kwargs)

    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (the "begin" hook below) decide how transactions start.
        dbapi_connection.isolation_level = None
        configure_sqlite(dbapi_connection)

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        # Straight on the driver's connection: nothing to convert, nothing to return, and a
        # write transaction's BEGIN IMMEDIATE is the first thing its writer does at the gate.
        statement = "BEGIN IMMEDIATE" if write else "BEGIN"
        try:
            connection.connection.driver_connection.execute(statement)
        except sqlite3.Error as error:  # as SQLAlchemy would raise it ("locked": a 503)
            raise DBAPIError.instance(statement, None, error, sqlite3.Error) from None

    return engine


def _postgresql_engine(url: str, **kwargs: Any) -> Engine:
    """A pool whose connections are checked as they are checked out: pinged only when one may
    be gone (:func:`common.dbapi.left_as_it_was`), and replaced if the ping fails, so that a
    database restarted since is no error for the next request."""
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if left_as_it_was(dbapi_connection):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool discards it and connects anew
            raise DisconnectionError(f"connection lost: {error}") from error

    return engine


# SQLAlchemy's default pool size: the least a service's pool holds.
POOL_SIZE = 5


class Database:
    """An engine plus two ways in: short read sessions and short write transactions."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.engine = create_db_engine(self.url, **engine_kwargs)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._write = sessionmaker(self._write_engine, expire_on_commit=False)
        self._gate = WriteGate(sqlite_file(self.url)) if is_sqlite(self.url) else None
        self.groups = GroupCommit(self._writer) if self._gate is not None else None

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    @contextmanager
    def core_transaction(self) -> Iterator[Connection]:
        """:meth:`transaction` on a Core connection, for a writer whose statements are all Core
        (an ORM session's begin and commit cost more than a small transaction's statements):
        the same write gate, ``BEGIN IMMEDIATE``, commit and rollback."""
        with self._write_engine.connect() as connection:
            if self._gate is None:
                with connection.begin():
                    yield connection
                return
            with self._gate.turn(), connection.begin():
                yield connection

    @contextmanager
    def transaction(self, connection: Connection | None = None) -> Iterator[Session]:
        """One write transaction: committed when the block ends, rolled back if it raises.
        On SQLite it first waits for its turn at the write gate. The connection is checked out
        of the pool and the session made before that turn, and given back after it: whatever
        the writer holding the gate does, every writer queued behind it waits for.

        ``connection``: one of :meth:`write_connection`'s, kept by the caller for a series of
        transactions (:mod:`common.bulk_writes`), instead of one from the pool."""
        if self._gate is None and connection is None:
            with self._write.begin() as session:
                yield session
            return
        with (
            self._write_engine.connect() if connection is None else nullcontext(connection) as held,
            self._write(bind=held) as session,
            self._gate.turn() if self._gate is not None else nullcontext(),
            session.begin(),
        ):
            yield session

    @contextmanager
    def at_once(self) -> Iterator[AtOnce]:
        """PostgreSQL: a write transaction of its own whose statements are sent at once
        (:mod:`common.at_once`: ``BEGIN`` with the first, ``COMMIT`` with the last), on a
        connection of the pool; committed when the block ends, rolled back if it raises."""
        with (
            self._driver_connection() as driver,
            transaction_at_once(driver, self.engine.dialect) as statements,
        ):
            yield statements

    def alone(self, statement: Prepared, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """PostgreSQL: one statement as a write transaction of its own (autocommit:
        :func:`common.at_once.run_alone`), on a connection of the pool; its first row."""
        with self.each_alone() as run:
            return run(statement, params)

    def alone_rows(self, statement: Prepared, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """:meth:`alone`, and every row the statement gives."""
        with self._driver_connection() as driver:
            return run_alone_rows(driver, self.engine.dialect, statement, params)

    @contextmanager
    def each_alone(self) -> Iterator[RunAlone]:
        """PostgreSQL: statements each a transaction of its own, as :meth:`alone` runs one, on
        one connection of the pool for the block (a read, then the write worked out from it)."""
        with self._driver_connection() as driver:
            dialect = self.engine.dialect
            yield lambda statement, params: run_alone(driver, dialect, statement, params)

    @contextmanager
    def _driver_connection(self) -> Iterator[Any]:
        """PostgreSQL: the psycopg connection of one checked out of the pool, idle. Not
        connected is raised as a Connection raises it; a connection left unusable by a
        failure is discarded from the pool."""
        assert self._gate is None, "SQLite runs statements in the process: use write()"
        dialect = self.engine.dialect
        try:
            pooled = self.engine.raw_connection()
        except dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(None, None, error, dialect.loaded_dbapi.Error) from None
        try:
            yield pooled.driver_connection
        except BaseException as error:
            if pooled.driver_connection is None or pooled.driver_connection.closed:
                pooled.invalidate(error)
            raise
        finally:
            pooled.close()

    def write_connection(self) -> Connection:
        """A connection for write transactions, from the pool: the caller closes it."""
        return self._write_engine.connect()

    def write(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` in a write transaction, its result once that is committed. On
        SQLite the works of threads that queue at the write gate at the same time share one
        transaction, each in its own savepoint, and one COMMIT (:mod:`common.group_commit`): a
        work must only read and write the database, so that it can run again alone. On
        PostgreSQL, whose writers do not wait for one another, each has its own transaction.
        The work gets a Core connection (no ORM session: see :mod:`common.group_commit`)."""
        if self.groups is not None:
            joined = self.groups.running_here()
            if joined is not None:
                # A group's work writing again would wait in the queue for itself (and its own
                # transaction holds SQLite's lock): it joins that transaction, in a savepoint.
                with joined.begin_nested():
                    return work(joined)
            if self._gate is None or not self._gate.held_here():
                return self.groups.submit(work)
        # PostgreSQL, or a thread already in its turn in a transaction of its own (it would
        # wait in the queue for itself): a transaction of its own, as a nested one did.
        with self.core_transaction() as connection:
            return work(connection)

    @contextmanager
    def _writer(self) -> Iterator[Connection]:
        """A connection for a group of writes, checked out before the turn at the gate (as in
        :meth:`transaction`), nothing begun yet."""
        assert self._gate is not None
        with self._write_engine.connect() as connection, self._gate.turn():
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()


def connection_of(target: Session | Connection) -> Connection:
    """The Core connection a write runs its statements on: a session's (its transaction begun
    if it was not), or the connection itself (as :meth:`Database.write` gives it)."""
    return target.connection() if isinstance(target, Session) else target


def get_db() -> Database:
    """The running app's database (in a request or app context)."""
    # Imported here, not at the top: the tables and the domain modules import this module, and
    # they must load (and be tested, or used by a command) without Flask.
    from flask import current_app

    db: Database = current_app.extensions["estante.db"]
    return db


def init_db(app: Any, url: str, threads: int) -> Database:
    """The app's database, its pool holding a connection for each of a worker's ``threads``
    and two more (the import worker's, a version reader's): with fewer, a busy worker opens
    and closes overflow connections request after request (each a new server process on
    PostgreSQL)."""
    db = Database(url, pool_size=max(POOL_SIZE, threads + 2))
    app.extensions["estante.db"] = db
    return db
