"""Pages of ``GET /books``, and books of ``GET /books/<id>``, kept per worker under the
catalog's version.

A page is a pure function of the catalog and the request's (validated) query and path prefix,
and a book's JSON of the catalog and its id, so an answer computed when the catalog was at
version *v* (see :func:`counts.catalog_version`) is the answer for every later request that
reads version *v*. Every change to the catalog adds to the version in its own transaction, so a
change any worker or replica commits makes every worker's answers of older versions
unreachable: nothing is invalidated by hand, and nothing stale can be served. The version is
always read before the answer is built (by :class:`VersionReader`, outside the read that builds
it), so an answer is never older than the version it is stored under: at worst it is newer,
and the next request then reads the newer version and misses.

The same version makes a page's ETag, so a client holding the page it last read gets a 304
without the page being built at all. (A book's ETag stays its own version.)
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event

from common.db import SQLITE_BUSY_TIMEOUT_MS, Database, is_sqlite, sqlite_file

# Pages of many sizes, filters and cursors: the most recently used ones of the current version.
MAX_PAGES = 256
MAX_PAGE_BYTES = 1024 * 1024
# What one cache of a worker keeps at most, in bytes of bodies and headers: 256 pages of 50
# books (about 60 KB each) would be 15 MB, of 200 books four times that; eight megabytes keep
# the ~130 most recently used pages of 50 books, or 2,048 books of up to 4 KB.
MAX_CACHE_BYTES = 8 * 1024 * 1024
# Query strings remembered with the cache key Flask's view validated them into, each at most
# this long: a megabyte or so in all.
MAX_QUERY_KEYS = 1024
MAX_QUERY_LENGTH = 512
# Books are small (half a kilobyte to a few): the most recently read ones of the current version.
MAX_BOOKS = 2048
# counts.catalog_version, as one statement for a connection of the driver's own.
VERSION_SQL = "SELECT coalesce(sum(changes), 0) FROM book_counts"
# Idle SQLite connections kept for reading the version: as many as threads read at once.
MAX_IDLE_READERS = 8
# The name VERSION_SQL is prepared under on the PostgreSQL reader's own connection.
VERSION_STATEMENT = b"estante_catalog_version"


@dataclass(frozen=True)
class CachedPage:
    body: bytes
    headers: tuple[tuple[str, str], ...]

    @property
    def size(self) -> int:
        """Bytes counted against the cache's bound: the body and the headers' text."""
        return len(self.body) + sum(len(name) + len(value) for name, value in self.headers)


def page_tag(version: int, key: str) -> str:
    """The page's entity tag, quoted: the same page for as long as the catalog is at
    ``version``. Sent weak (``W/`` before it): Link URLs may differ by host or scheme."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return f'"{version}-{digest}"'


class PageCache:
    """Thread-safe; holds the pages of one version, the newest this worker has read: at most
    ``max_pages`` of them and ``max_bytes`` in all, the least recently used going first. Its
    ``queries`` remember which key each query string was validated into."""

    def __init__(self, max_pages: int = MAX_PAGES, max_bytes: int = MAX_CACHE_BYTES) -> None:
        self.queries = QueryKeys()
        self.max_pages = max_pages
        self.max_bytes = max_bytes
        self.bytes = 0
        self._version = -1
        self._pages: OrderedDict[str, CachedPage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: int, key: str) -> CachedPage | None:
        with self._lock:
            if version != self._version:
                return None
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, version: int, key: str, page: CachedPage) -> None:
        if len(page.body) > MAX_PAGE_BYTES or page.size > self.max_bytes:
            return
        with self._lock:
            if version < self._version:
                return  # read by a request that started before a newer version was seen
            if version > self._version:
                self._version = version
                self._pages.clear()
                self.bytes = 0
            replaced = self._pages.pop(key, None)
            self.bytes += page.size - (replaced.size if replaced else 0)
            self._pages[key] = page
            while len(self._pages) > self.max_pages or self.bytes > self.max_bytes:
                self.bytes -= self._pages.popitem(last=False)[1].size


class QueryKeys:
    """The cache key of each query string (with its path prefix) Flask's view has validated, so
    that a request in front of Flask (:mod:`books_service.cached_reads`) finds its page without
    validating the query again. A key is a pure function of the raw text (the same query string
    parses and validates the same way every time), so it is kept whatever the catalog's
    version. Thread-safe (one dict operation at a time); at ``max_keys`` it starts over, so
    that no set of queries, however many, keeps the newer ones out; longer queries than
    ``MAX_QUERY_LENGTH`` are left to Flask."""

    def __init__(self, max_keys: int = MAX_QUERY_KEYS) -> None:
        self.max_keys = max_keys
        self._keys: dict[tuple[str, str], str] = {}

    def get(self, prefix: str, query: str) -> str | None:
        return self._keys.get((prefix, query))

    def put(self, prefix: str, query: str, key: str) -> None:
        if len(prefix) + len(query) > MAX_QUERY_LENGTH:
            return
        if len(self._keys) >= self.max_keys:
            self._keys = {}
        self._keys[(prefix, query)] = key


class VersionReader:
    """Reads the catalog's version (:func:`counts.catalog_version`) for the caches, as cheaply as
    each database allows: a request served from a cache reads nothing else.

    On a SQLite file: one statement on a plain ``sqlite3`` connection in autocommit (each
    statement sees the newest committed catalog), no ORM session, no pool. Idle connections are
    kept for the next read, never shared by two threads at a time, and never more than
    ``MAX_IDLE_READERS`` made: a thread that finds them all busy reads on the pool's connection.
    (Closing surplus connections instead left their files open for a while: a closed SQLite
    connection whose statements are still referenced lingers until they are collected.)

    On PostgreSQL: one connection of its own per process, in autocommit, that the process's
    threads take turns on (a read is one round trip; the pool's connection would add a ping, a
    BEGIN and a ROLLBACK). So each worker holds at most one connection beside its pool's. The
    statement is prepared once on it and executed through libpq itself (psycopg's ``pgconn``,
    which lets go of the GIL while it waits): a quarter of the CPU of a cursor's ``execute``.
    A thread that waited for its turn while another read the version takes that read's answer
    when, and only when, the read started after the thread arrived: such a read saw every change
    committed before the request began, so sharing it is as fresh as reading again, and a burst
    of requests pays one round trip instead of one each. (Keeping the version in memory, told
    of changes by LISTEN/NOTIFY, would cost no round trip at all but is not fresh: the
    notification reaches another process some time after the writer's commit, and a client
    that reads through another worker as soon as its write is answered could get the book as
    it was before.)

    Either way the connections are forgotten in a forked child (they are the parent's) and
    closed by the engine's ``dispose()``. Should one fail, the read is made again on a connection
    of the engine's pool, which reports the database's trouble as every other read does (a 503
    when it is down); so does an in-memory SQLite database, which only the pool can reach."""

    def __init__(self, db: Database) -> None:
        self._engine = db.engine
        self._path = sqlite_file(db.url) if is_sqlite(db.url) else None
        self._postgres = db.engine.dialect.name == "postgresql"
        self._idle: list[Any] = []
        self._made = 0  # connections of this process's own, idle or in use
        self._lock = threading.Lock()
        self._turn = threading.Lock()  # PostgreSQL's one connection, one thread at a time
        # PostgreSQL: requests and reads numbered in the order they arrive and start, and the
        # last read's answer with the number it started under (see _read_shared).
        self._tickets = itertools.count()
        self._last: tuple[int, int] = (-1, 0)
        self._pid = os.getpid()
        event.listen(db.engine, "engine_disposed", lambda _engine: self.close())

    def read(self) -> int:
        arrived = next(self._tickets)
        if self._path is not None or self._postgres:
            try:
                version = self._read_shared(arrived) if self._postgres else self._read_own()
            except Exception:  # the pool's connection below says what is wrong
                version = None
            if version is not None:
                return version
        with self._engine.connect() as pooled:
            return int(pooled.exec_driver_sql(VERSION_SQL).scalar() or 0)

    def _read_shared(self, arrived: int) -> int | None:
        """PostgreSQL's read for a request numbered ``arrived``: the answer of a read that
        started after it arrived, if one has finished while it waited its turn, or a read of
        its own."""
        with self._turn:
            started, version = self._last
            if started > arrived:
                return version
            connection = self._take()
            if connection is None:
                return None
            started = next(self._tickets)
            version = self._read_on(connection)
            self._last = (started, version)
            return version

    def _read_own(self) -> int | None:
        connection = self._take()
        return None if connection is None else self._read_on(connection)

    def _read_on(self, connection: Any) -> int:
        try:
            if self._postgres:
                version = self._execute_prepared(connection)
            else:
                cursor = connection.cursor()
                cursor.execute(VERSION_SQL)
                row = cursor.fetchone()
                cursor.close()
                version = int(row[0]) if row else 0
        except BaseException:
            self._forget(connection)
            raise
        self._give_back(connection)
        return version

    @staticmethod
    def _execute_prepared(connection: Any) -> int:
        """VERSION_SQL on a psycopg connection, as libpq's prepared statement (text result)."""
        # Here, not at the top: a worker on SQLite never loads psycopg (9 MB of RSS).
        from psycopg import OperationalError, pq

        result = connection.pgconn.exec_prepared(VERSION_STATEMENT, None)
        if result.status != pq.ExecStatus.TUPLES_OK or result.ntuples != 1:
            raise OperationalError(connection.pgconn.get_error_message())
        value: bytes | None = result.get_value(0, 0)
        return int(value) if value is not None else 0

    def _take(self) -> Any:
        with self._lock:
            if self._pid != os.getpid():
                # Inherited through fork: the parent's to use (and close), never the child's.
                self._idle, self._made, self._pid = [], 0, os.getpid()
            if self._idle:
                return self._idle.pop()
            if self._made >= (1 if self._postgres else MAX_IDLE_READERS):
                return None
            self._made += 1
        try:
            return self._connect()
        except BaseException:
            with self._lock:
                self._made -= 1
            raise

    def _connect(self) -> Any:
        if self._postgres:
            dialect = self._engine.dialect
            cargs, cparams = dialect.create_connect_args(self._engine.url)
            connection = dialect.loaded_dbapi.connect(*cargs, **cparams)
            try:
                connection.autocommit = True
                self._prepare(connection)
            except BaseException:
                connection.close()
                raise
            return connection
        assert self._path is not None
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        except BaseException:
            connection.close()
            raise
        return connection

    @staticmethod
    def _prepare(connection: Any) -> None:
        from psycopg import OperationalError, pq

        result = connection.pgconn.prepare(VERSION_STATEMENT, VERSION_SQL.encode())
        if result.status != pq.ExecStatus.COMMAND_OK:
            raise OperationalError(connection.pgconn.get_error_message())

    def _give_back(self, connection: Any) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._idle.append(connection)
                return
        connection.close()

    def _forget(self, connection: Any) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._made -= 1
        connection.close()

    def close(self) -> None:
        """Closes the idle connections (the engine's ``dispose()`` calls it)."""
        with self._lock:
            idle, self._idle = self._idle, []
            mine = self._pid == os.getpid()
            if mine:
                self._made -= len(idle)
        for connection in idle if mine else ():
            connection.close()
