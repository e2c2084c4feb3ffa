"""The database at the DB-API level (sqlite3, psycopg 3), without SQLAlchemy.

:mod:`common.db` drives the APIs' databases through SQLAlchemy; the web service keeps only its
sessions table, and SQLAlchemy would cost each of its processes about 18 MB of memory for four
short statements. So it reaches that table here, with the same SQLite set-up (the pragmas, the
write gate, ``BEGIN IMMEDIATE`` for writes) that :mod:`common.db` takes from this module too,
and on PostgreSQL with a connection checked before each use (:func:`left_as_it_was`), as
:mod:`common.db`'s pool checks its own.
"""

from __future__ import annotations

import fcntl
import os
import select
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

SQLITE_BUSY_TIMEOUT_MS = 30_000
# PEP 249's exception names: what an error is reported as, whatever the driver's subclass.
_DBAPI_ERRORS = (
    "OperationalError",
    "ProgrammingError",
    "IntegrityError",
    "DataError",
    "InternalError",
    "NotSupportedError",
    "InterfaceError",
    "DatabaseError",
)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def normalise_url(url: str) -> str:
    """Let users write ``postgresql://`` or ``postgres://``; we drive it with psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def configure_sqlite(connection: Any) -> None:
    """Every SQLite connection's settings: wait for the lock instead of failing, WAL (readers
    never block the writer), and foreign keys enforced."""
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def error_name(error: BaseException) -> str:
    """The PEP 249 name of a driver's error (``OperationalError``, not psycopg's
    ``ConnectionTimeout``), as SQLAlchemy named the errors it wrapped."""
    for cls in type(error).__mro__:
        if cls.__name__ in _DBAPI_ERRORS:
            return cls.__name__
    return type(error).__name__


def left_as_it_was(connection: Any) -> bool:
    """Whether an idle psycopg connection is as its last answer left it: open, and nothing
    arrived on its socket since. A server that ended the connection (restarted, the backend
    terminated, a proxy gone) has by then sent an error or the end of the stream, so the socket
    reads; a connection that may be gone is pinged (``SELECT 1``) before it is used, and
    reopened if that fails. Pinging every connection at every checkout, as SQLAlchemy's
    ``pool_pre_ping`` does, was a round trip per request (issue 12); this is one ``poll``."""
    if connection.closed:
        return False
    try:
        socket = connection.pgconn.socket
    except connection.OperationalError:  # the driver knows it lost the connection
        return False
    poller = select.poll()
    poller.register(socket, select.POLLIN | select.POLLPRI)  # hang-ups and errors always count
    return not poller.poll(0)


class WriteGate:
    """One writer at a time, across the threads of this process (a lock) and across processes
    (``flock`` on ``<database>-writegate``, opened anew in each process, so a fork never shares
    it). Re-entrant within a thread. Waiting here is a kernel queue, not a sleep-and-retry."""

    def __init__(self, path: Path | None) -> None:
        self.path = path.with_name(path.name + "-writegate") if path else None
        self._lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0
        self._owner: int | None = None

    def _file(self) -> int | None:
        if self.path is None:
            return None
        if self._fd is None or self._pid != os.getpid():
            # A descriptor inherited through fork shares its lock with the parent: reopen.
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def held_here(self) -> bool:
        """Whether this thread is inside its turn."""
        return self._owner == threading.get_ident()

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._lock:
            fd = self._file() if self._depth == 0 else None
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._depth += 1
            self._owner = threading.get_ident()
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Sequence[Any] | None: ...


class Statements:
    """One transaction's statements, written with ``?`` placeholders whatever the driver."""

    def __init__(self, connection: Any, sqlite: bool) -> None:
        self._connection = connection
        self._sqlite = sqlite

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        if self._sqlite:
            # Stored as SQLAlchemy stored them on SQLite: UTC text, so that they compare.
            parameters = [_sqlite_time(p) if isinstance(p, datetime) else p for p in parameters]
        else:
            sql = sql.replace("?", "%s")
        cursor: Cursor = self._connection.execute(sql, parameters)
        return cursor


def _sqlite_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def sqlite_time(value: str | datetime) -> datetime:
    """A time as SQLite gives it back (text; a datetime from PostgreSQL passes as it is)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class DbApiDatabase:
    """One connection per thread of the process (opened anew after a fork), and two ways in:
    :meth:`read` and :meth:`transaction`, as :class:`common.db.Database` has. Driver errors
    pass through as they are (PEP 249 names them alike on both drivers)."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.sqlite = is_sqlite(self.url)
        self.driver: ModuleType
        if self.sqlite:
            self.path = sqlite_path(self.url)
            self.driver = sqlite3
            self._gate: WriteGate | None = WriteGate(
                None if self.path == ":memory:" else Path(self.path)
            )
        else:
            import psycopg

            self.driver = psycopg
            self._conninfo = "postgresql://" + self.url.split("://", 1)[1]
            self._gate = None
        self._local = threading.local()

    def _open(self) -> Any:
        if self.sqlite:
            connection = sqlite3.connect(
                self.path,
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # transactions begun here, as the writer needs them
                check_same_thread=False,
            )
            configure_sqlite(connection)
            return connection
        import psycopg

        return psycopg.connect(self._conninfo, autocommit=True)

    def _connection(self) -> Any:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # a fork's inherited one is the parent's
            local.connection, local.pid = None, os.getpid()
        if (
            local.connection is not None
            and not self.sqlite
            and not left_as_it_was(local.connection)
        ):
            try:  # a server restarted since is reconnected to, not an error
                local.connection.execute("SELECT 1")
            except self.driver.Error:
                self._discard()
        if local.connection is None:
            local.connection = self._open()
        return local.connection

    def _discard(self) -> None:
        connection, self._local.connection = self._local.connection, None
        with suppress(Exception):  # already broken: nothing more to give back
            connection.close()

    @contextmanager
    def _begun(self, begin: str) -> Iterator[Statements]:
        connection = self._connection()
        try:
            connection.execute(begin)
            yield Statements(connection, self.sqlite)
            connection.execute("COMMIT")
        except BaseException:
            try:  # a failed COMMIT too: never leave a transaction open for the next one
                connection.execute("ROLLBACK")
            except self.driver.Error:  # none was open, or the connection is lost: a new one
                self._discard()
            raise

    @contextmanager
    def read(self) -> Iterator[Statements]:
        with self._begun("BEGIN") as statements:
            yield statements

    @contextmanager
    def transaction(self) -> Iterator[Statements]:
        """One write transaction: committed when the block ends, rolled back if it raises. On
        SQLite it waits first for its turn at the write gate, then takes the lock up front."""
        if self._gate is None:
            with self._begun("BEGIN") as statements:
                yield statements
            return
        self._connection()  # opened before the turn: writers queued behind need not wait for it
        with self._gate.turn(), self._begun("BEGIN IMMEDIATE") as statements:
            yield statements

    def revision(self, table: str) -> str | None:
        """The revision a migration version table holds (an error if there is no such table)."""
        with self.read() as statements:
            row = statements.execute(f"SELECT version_num FROM {table}").fetchone()  # noqa: S608
        return None if row is None else str(row[0])

    def dispose(self) -> None:
        if getattr(self._local, "connection", None) is not None:
            self._discard()


def sqlite_path(url: str) -> str:
    """The file a ``sqlite:///path`` URL names, as SQLAlchemy reads it (``:memory:`` for none)."""
    rest = normalise_url(url).split("://", 1)[1]
    database = rest[1:].split("?", 1)[0] if rest.startswith("/") else ""
    return database or ":memory:"


def sqlite_file(url: str) -> Path | None:
    """The database file a SQLite URL names (None for an in-memory database)."""
    database = sqlite_path(url)
    if database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database)
