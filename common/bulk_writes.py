"""A long series of write transactions by one thread (an import job's batches): on SQLite, one
connection kept for all of them, with a larger page cache, and the WAL's checkpoints run by a
thread of their own. On PostgreSQL, plain :meth:`Database.transaction` (its server keeps its
own cache and runs its own checkpoints).

Why, measured on a 500,000-book SQLite catalog importing 40,000 more (docs/performance.md,
"Import into a large SQLite catalog"): each new book goes into some ten B-tree indexes, and
those on keys in no particular order (title, author, duplicate key) have a leaf page of their
own for nearly every row of a batch once the catalog is large.

* The pool hands its connections out in turn, and SQLite drops a connection's page cache
  whenever another connection has written: the pages a batch read came from the OS again for
  the next one. One connection keeps them.
* The default cache (2 MB) holds a sliver of a large catalog's indexes: 66-88 KiB read from the
  OS a row. With 64 MiB, 11-32 KiB. The cache is set back when the series ends, and the
  memory given back to the system.
* A commit that grows the WAL past its limit (1,000 pages) copies it into the database then
  and there, in the writing thread while it holds the write lock: ~35 µs of a row's 150-185 at
  that size. Here that connection never checkpoints; a thread with its own connection does
  after each commit, ``PASSIVE`` (it never waits for nor blocks a reader or the writer), while
  the writer goes on with its next batch on the other core. The writer never gets more than
  one transaction ahead of the checkpoints; and SQLite starts the WAL over only when a writer
  begins while every frame is copied, so once the WAL has grown past
  :data:`WAL_LIMIT_PAGES` the writer waits for that before it begins: the WAL stays bounded.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from common.db import Database
from common.dbapi import configure_sqlite, sqlite_file
from common.malloc import give_back_free_memory

log = logging.getLogger("estante.db")

# Past this many pages in the WAL (64 MiB of 4 KiB pages), the next transaction waits for the
# checkpoint in progress, after which it starts the WAL over.
WAL_LIMIT_PAGES = 16_384


class BulkWrites:
    """``with BulkWrites(db, cache_mib) as writes:`` then ``with writes.transaction() as
    session:`` as often as needed, from the thread that entered."""

    def __init__(self, db: Database, cache_mib: int) -> None:
        self._db = db
        self._cache_mib = cache_mib
        self._connection: Connection | None = None
        self._checkpoints: _Checkpoints | None = None
        self._restore: list[str] = []

    def __enter__(self) -> BulkWrites:
        path = sqlite_file(self._db.url)
        if path is None:
            return self
        self._connection = self._db.write_connection()
        try:
            raw = self._connection.connection.driver_connection
            assert raw is not None
            settings = (("cache_size", -1024 * self._cache_mib), ("wal_autocheckpoint", 0))
            for pragma, value in settings:
                (previous,) = raw.execute(f"PRAGMA {pragma}").fetchone()
                self._restore.append(f"PRAGMA {pragma} = {int(previous)}")
                raw.execute(f"PRAGMA {pragma} = {value}")
            self._checkpoints = _Checkpoints(path)
            self._checkpoints.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        checkpoints, connection = self._checkpoints, self._connection
        self._checkpoints, self._connection = None, None
        if checkpoints is not None:
            checkpoints.stop()
        if connection is not None:
            try:
                raw = connection.connection.driver_connection
                assert raw is not None
                for statement in self._restore:
                    raw.execute(statement)
            except sqlite3.Error:
                # Not back to the pool with a 64 MiB cache and no checkpoints: closed instead.
                connection.invalidate()
            connection.close()
            self._restore.clear()
            # SQLite frees the pages over the smaller limit, but glibc's allocator keeps freed
            # memory for the process (measured: 46 MB of RSS, 115 with the cache full, 82
            # after it was set back, 49 after this).
            give_back_free_memory()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction, as :meth:`Database.transaction`, on the kept connection."""
        if self._checkpoints is not None and self._checkpoints.failed:
            # Nobody copies the WAL any more: the connection goes back to the pool with its
            # own checkpoints, and the rest of the series is ordinary transactions.
            self.__exit__(None, None, None)
        if self._connection is None or self._checkpoints is None:
            with self._db.transaction() as session:
                yield session
            return
        self._checkpoints.keep_up()
        with self._db.transaction(self._connection) as session:
            yield session
        self._checkpoints.due()


class _Checkpoints:
    """The thread that checkpoints the WAL when told a commit happened."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread = threading.Thread(target=self._run, name="estante-checkpoints", daemon=True)
        self._state = threading.Condition()
        self._due = False
        self._busy = False
        self._stopping = False
        self.failed = False
        self.wal_pages = 0

    def start(self) -> None:
        self._thread.start()

    def due(self) -> None:
        with self._state:
            self._due = True
            self._state.notify_all()

    def keep_up(self) -> None:
        """Before a transaction: wait while the checkpoint running is of an older commit than
        the last one (the writer a whole transaction ahead of it), and, once the WAL is past
        :data:`WAL_LIMIT_PAGES`, until every committed frame is copied (so that this
        transaction starts the WAL over)."""
        with self._state:
            if self._busy and self._due:
                self._state.wait_for(lambda: not self._busy or self._stopping)
            if self.wal_pages > WAL_LIMIT_PAGES:
                self._state.wait_for(lambda: not (self._due or self._busy) or self._stopping)

    def stop(self) -> None:
        """After a last checkpoint of what was committed."""
        with self._state:
            self._due = True
            self._stopping = True
            self._state.notify_all()
        self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            configure_sqlite(connection)
            while True:
                with self._state:
                    self._state.wait_for(lambda: self._due)
                    self._due, self._busy = False, True
                    last = self._stopping
                try:
                    _, pages, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.wal_pages = max(pages, 0)
                finally:
                    with self._state:
                        self._busy = False
                        self._state.notify_all()
                if last:
                    return
        except sqlite3.Error:
            # The writer's next transaction sees it and ends the series (BulkWrites.transaction).
            log.warning("the background checkpoint failed", exc_info=True)
            with self._state:
                self.failed = self._stopping = True
                self._state.notify_all()
        finally:
            connection.close()
