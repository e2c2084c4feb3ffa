"""A long series of write transactions by one thread (an import job's batches): on SQLite, one
connection kept for all of them, with a larger page cache, and the WAL's checkpoints run by a
thread of their own. On PostgreSQL, plain :meth:`Database.transaction` (its server keeps its
own cache and runs its own checkpoints), and the planner's statistics of the tables the series
fills kept up with them by a thread of the series (:class:`_Statistics`).

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from sqlalchemy import Connection, String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from common.db import Database
from common.dbapi import configure_sqlite, sqlite_file
from common.malloc import give_back_free_memory

log = logging.getLogger("estante.db")

# Past this many pages in the WAL (64 MiB of 4 KiB pages), the next transaction waits for the
# checkpoint in progress, after which it starts the WAL over.
WAL_LIMIT_PAGES = 16_384
# PostgreSQL: while a series runs, a table it fills is analyzed once it has had this many
# changes more than it held rows at its last ANALYZE (it has doubled, or more; a smaller table
# plans well enough without statistics).
GROWN_ROWS = 10_000
# ... and waits at most this long for another session's ANALYZE or VACUUM of one of them.
LOCK_WAIT = "2s"


class BulkWrites:
    """``with BulkWrites(db, cache_mib) as writes:`` then ``with writes.transaction() as
    session:`` as often as needed, from the thread that entered. ``analyze``: the tables the
    series fills, whose statistics PostgreSQL's planner needs kept up with them."""

    def __init__(self, db: Database, cache_mib: int, analyze: tuple[str, ...] = ()) -> None:
        self._db = db
        self._cache_mib = cache_mib
        self._tables = analyze
        self._connection: Connection | None = None
        self._checkpoints: _Checkpoints | None = None
        self._statistics: _Statistics | None = None
        self._restore: list[str] = []

    def __enter__(self) -> BulkWrites:
        path = sqlite_file(self._db.url)
        if path is None:
            if self._tables:
                self._statistics = _Statistics(self._db, self._tables)
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
        statistics, self._statistics = self._statistics, None
        if statistics is not None:
            if kind is None:
                statistics.finish()
            else:
                statistics.stop()
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

    def statistics_caught_up(self) -> None:
        """Wait until the tables due for an ANALYZE after the last commit have had it (the
        series' own thread runs them; tests read the statistics after it)."""
        if self._statistics is not None:
            self._statistics.caught_up()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction, as :meth:`Database.transaction`, on the kept connection."""
        if self._checkpoints is not None and self._checkpoints.failed:
            # Nobody copies the WAL any more: the connection goes back to the pool with its
            # own checkpoints, and the rest of the series is ordinary transactions.
            self.__exit__(None, None, None)
        if self._connection is None or self._checkpoints is None:
            with self._db.transaction() as session:
                if self._statistics is not None:
                    self._statistics.count(session)
                yield session
            if self._statistics is not None:
                self._statistics.keep_up()
            return
        self._checkpoints.keep_up()
        with self._db.transaction(self._connection) as session:
            yield session
        self._checkpoints.due()


class _Checkpoints:
    """The thread that checkpoints the WAL when told a commit happened. Commits and the
    checkpoints that have copied them are counted, so the writer can tell how far behind the
    checkpoints are whether or not the thread has woken up yet (on a loaded machine it may not
    have, for several transactions)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread = threading.Thread(target=self._run, name="estante-checkpoints", daemon=True)
        self._state = threading.Condition()
        self._committed = 0  # commits the writer reported
        self._taken = 0  # commits the checkpoint running (or the last one) started from
        self._copied = 0  # commits a finished checkpoint covered
        self._stopping = False
        self.failed = False
        self.wal_pages = 0

    def start(self) -> None:
        self._thread.start()

    def due(self) -> None:
        with self._state:
            self._committed += 1
            self._state.notify_all()

    def keep_up(self) -> None:
        """Before a transaction: wait until the commits before the last one are checkpointed
        (the writer never a whole transaction ahead of the checkpoints), and, once the WAL is
        past :data:`WAL_LIMIT_PAGES`, until every commit is (so that this transaction starts
        the WAL over)."""
        with self._state:
            self._state.wait_for(lambda: self._copied >= self._committed - 1 or self._stopping)
            if self.wal_pages > WAL_LIMIT_PAGES:
                self._state.wait_for(lambda: self._copied >= self._committed or self._stopping)

    def stop(self) -> None:
        """After a last checkpoint of what was committed."""
        with self._state:
            self._stopping = True
            self._state.notify_all()
        self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            configure_sqlite(connection)
            while True:
                with self._state:
                    self._state.wait_for(lambda: self._committed > self._taken or self._stopping)
                    self._taken = self._committed
                    last = self._stopping
                _, pages, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                with self._state:
                    self.wal_pages = max(pages, 0)
                    self._copied = self._taken
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


class _Statistics:
    """PostgreSQL plans every query from its statistics of the tables (row counts, values'
    frequencies), which ANALYZE samples and autovacuum refreshes when a tenth of a table has
    changed, if it is on and when it gets to it. A series that fills a table outgrows them
    within seconds: a catalog imported into an empty database had none at all, and the planner
    then chose plans that read every row (measured: an import's server side 213-237 µs of CPU a
    row at 620,000 books, 101 once analyzed). As PostgreSQL's documentation advises after a bulk
    load, the series analyzes its tables itself: while it runs, a table that has doubled since
    its last ANALYZE (six times in an import of a million books into an empty catalog); at its
    end, those whose changes autovacuum would analyze them for. ANALYZE reads a sample and
    blocks neither readers nor writers; it waits for another session's ANALYZE or VACUUM of the
    same table, :data:`LOCK_WAIT` at most. It only makes plans better: when it fails, the series
    goes on without it (logged)."""

    _CHANGED = text(
        "SELECT c.relname, s.n_mod_since_analyze, GREATEST(c.reltuples, 0) "
        "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
        "WHERE s.relid = ANY(CAST(CAST(:tables AS text[]) AS regclass[]))"
    ).bindparams(bindparam("tables", type_=ARRAY(String())))

    def __init__(self, db: Database, tables: tuple[str, ...]) -> None:
        self._db = db
        self._tables = list(tables)
        self._flush: bool | None = None
        # The thread that looks for doubled tables after the commits (keep_up): how many
        # commits it was told of, and how many it has looked after.
        self._turns = threading.Condition()
        self._told = 0
        self._looked = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    def count(self, session: Session) -> None:
        """In each transaction of the series: its changes counted in the statistics views when
        it commits. A backend otherwise reports them at most once a second, and a check right
        after a commit would not see them."""
        if self._flush is None:
            version = session.get_bind().dialect.server_version_info or (0,)
            self._flush = version >= (15,)  # pg_stat_force_next_flush() is new in 15
        if self._flush:
            session.execute(text("SELECT pg_stat_force_next_flush()"))

    def keep_up(self) -> None:
        """After a commit: the tables that have doubled, analyzed by a thread of the series on
        a connection of its own while the writer goes on with its next transaction (ANALYZE
        blocks no writer). In the writer's thread, a million-row import waited 4-5 s for them."""
        with self._turns:
            self._told += 1
            self._turns.notify_all()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="estante-analyze", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._turns:
                while self._looked == self._told and not self._stopping:
                    self._turns.wait()
                if self._stopping:
                    return
                told = self._told
            try:
                self._analyze(lambda changed, rows: changed > rows + GROWN_ROWS)
            except Exception:  # a bug here must not leave caught_up() waiting for ever
                log.exception("analyzing %s failed", ", ".join(self._tables))
            with self._turns:
                self._looked = told
                self._turns.notify_all()

    def caught_up(self) -> None:
        """Wait until the thread has looked after every commit so far."""
        with self._turns:
            while self._looked < self._told and self._thread is not None:
                self._turns.wait(0.1)

    def stop(self) -> None:
        """The thread ends, after the ANALYZE it may be running."""
        with self._turns:
            self._stopping = True
            self._turns.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def finish(self) -> None:
        """At the end: by autovacuum's default rule (50 rows and a tenth of the table)."""
        self.stop()
        self._analyze(lambda changed, rows: changed > 50 + rows / 10)

    def _analyze(self, due: Callable[[int, float], bool]) -> None:
        try:
            with self._db.transaction() as session:
                rows = session.execute(self._CHANGED, {"tables": self._tables}).all()
                names = [name for name, changed, held in rows if due(int(changed), float(held))]
                if names:
                    # Not behind an operator's VACUUM of the table for as long as it takes.
                    session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
                    quote = session.get_bind().dialect.identifier_preparer.quote
                    session.execute(text("ANALYZE " + ", ".join(quote(name) for name in names)))
        except DBAPIError:
            log.warning("could not analyze %s", ", ".join(self._tables), exc_info=True)
