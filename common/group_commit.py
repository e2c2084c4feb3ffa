"""Group commit: the write transactions that wait for SQLite's one writer, run together.

SQLite has one writer at a time, so on a busy catalog the threads of a worker process queue at
the write gate (:mod:`common.db`) and each, in turn, checks out a connection, begins, runs its
statements and commits: the commit writes every page the transaction touched (the book's row,
each of its indexes, the search index, the counts, the history) to the WAL, and a page changed
by four transactions in a row is written four times. Here the thread whose turn it is (the
*leader*) runs the work of every thread of its process that queued meanwhile, each in a
SAVEPOINT of its own, and commits once for all of them.

What each request still gets, exactly as with a transaction of its own:

* **its own outcome**: a work that raises (a duplicate, a version mismatch, an invalid patch, a
  database error) is rolled back to its savepoint alone and its caller gets that exception; the
  others are not affected;
* **durable before answered**: :meth:`GroupCommit.submit` returns only after the COMMIT that
  holds the work has succeeded; if that COMMIT fails, every work of the group gets its error;
* **its own context**: a work runs in a copy of its caller's context variables (Flask's app
  context, ``current_app``, ``g``), whichever thread leads its group;
* **the order it arrived in**: the works of a group run one after another in the order they
  queued, each seeing the ones before it (so a version check or a duplicate check sees every
  earlier write of the group, as it would have seen their commits).

A group that cannot go on (a savepoint that cannot be rolled back, a connection whose
transaction a failure has ended) is rolled back whole, and every work of it that had not failed
on its own is run again alone, in a transaction of its own: a work must therefore be a function
of its arguments and the database only (the catalog's writes are), safe to run again after a
rollback. A work must not submit work here itself (its thread would wait for itself):
:meth:`common.db.Database.write` runs such a write in a savepoint of the work's own transaction
(:meth:`GroupCommit.running_here`), and one from a thread inside a transaction of its own in a
transaction of its own.

Who leads and who waits is :class:`LeaderQueue`'s, which knows nothing of transactions: the
new books added together on PostgreSQL (:mod:`books_service.pg_adds`) queue on one too.

A work gets the group's Core :class:`~sqlalchemy.Connection`, not an ORM session: the hot writes
are Core statements (most of them :class:`common.prepared.Prepared`), and a session's begin,
connection lookups, flush and commit cost more than the statements of a small write, all of it
paid while every other writer waits at the gate.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

T = TypeVar("T")
# At most this many works in one transaction: a long group holds the write lock long enough for
# the other processes' writers to notice, and the first work's caller waits for the last.
MAX_GROUP = 32
_SAVEPOINT = "estante_work"


Item = TypeVar("Item")
R = TypeVar("R")


class Queued(Generic[Item, R]):
    """One caller's item in a :class:`LeaderQueue`, and its outcome once its group has run."""

    __slots__ = ("done", "error", "item", "lead", "result")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.done = False
        self.lead = False
        self.result: R | None = None
        self.error: BaseException | None = None

    def outcome(self) -> R:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # set when done without an error


# Runs one group: ``take()`` hands over the items queued until then (the leader's own first),
# each of which the group must give an outcome (``result`` or ``error``, and ``done``).
Take = Callable[[], list[Queued[Item, R]]]
RunGroup = Callable[[Take[Item, R]], None]


class LeaderQueue(Generic[Item, R]):
    """Items of several threads run in groups, with no thread of its own: the first caller to
    find nobody leading runs a group (``run_group``) of everything queued by the time it
    takes them, at most ``max_group``; callers arriving meanwhile wait, and the first of them
    leads the next group. Nothing waits for a group to fill: a caller alone runs alone at
    once, and a group is as large as the time the one before it took."""

    def __init__(self, run_group: RunGroup[Item, R], max_group: int) -> None:
        self._run_group = run_group
        self._max = max_group
        self._changed = threading.Condition(threading.Lock())
        self._pending: list[Queued[Item, R]] = []
        self._leading = False

    def waiting(self) -> int:
        """How many items are queued and not yet taken into a group."""
        with self._changed:
            return len(self._pending)

    def submit(self, item: Item) -> R:
        """``item``'s outcome, once a group holding it has run: its result, or its error
        raised."""
        job: Queued[Item, R] = Queued(item)
        with self._changed:
            self._pending.append(job)
            if self._leading:
                while not (job.done or job.lead):
                    self._changed.wait()
                if job.done:
                    return job.outcome()
            self._leading = True
        self._lead(job)
        return job.outcome()

    def _take(self, taken: list[Queued[Item, R]]) -> list[Queued[Item, R]]:
        with self._changed:
            taken[:] = self._pending[: self._max]
            del self._pending[: self._max]
        return taken

    def _lead(self, own: Queued[Item, R]) -> None:
        """Run one group (the leader's own item is first in it), then hand the lead to the
        first caller still waiting, or give it up."""
        taken: list[Queued[Item, R]] = []
        try:
            self._run_group(lambda: self._take(taken))
        except BaseException as error:
            with self._changed:
                if own in self._pending:  # failed before taking a group: its caller gets this
                    self._pending.remove(own)
            for job in taken:
                if not job.done:
                    job.error, job.done = error, True
            raise
        finally:
            with self._changed:
                if self._pending:
                    self._pending[0].lead = True
                else:
                    self._leading = False
                self._changed.notify_all()


class _Work(Generic[T]):
    """A write transaction's work, run in its submitter's context."""

    __slots__ = ("context", "work")

    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        # The submitting thread's context variables (Flask's app and request contexts, their
        # ``g``): the leader runs every work of its group in its submitter's context.
        self.context = contextvars.copy_context()

    def run(self, connection: Connection) -> T:
        return self.context.run(self.work, connection)


_Job = Queued[_Work[Any], Any]
# Opens one write transaction's connection: checked out before the writer's turn at the write
# gate, the gate taken, nothing begun yet (see Database._writer).
OpenWriter = Callable[[], AbstractContextManager[Connection]]


class _Broken(Exception):
    """The group's transaction can no longer be used: roll it back, run the rest alone."""


class GroupCommit:
    """Runs works (``work(connection) -> result``) in shared write transactions; see the
    module."""

    def __init__(self, open_writer: OpenWriter) -> None:
        self._open = open_writer
        self._queue: LeaderQueue[_Work[Any], Any] = LeaderQueue(self._group, MAX_GROUP)
        # How many transactions were committed and how many works they held (for benchmarks
        # and tests: the proof that grouping happens at all).
        self.commits = 0
        self.works = 0
        # The connection of the group the current thread is leading, while it runs its works.
        self._running = threading.local()

    def running_here(self) -> Connection | None:
        """The connection of the group whose works this thread is running (a work that writes
        again joins its group's transaction, in a savepoint, rather than queue behind itself),
        or None."""
        connection: Connection | None = getattr(self._running, "connection", None)
        return connection

    def waiting(self) -> int:
        """How many works are queued and not yet taken into a group."""
        return self._queue.waiting()

    def submit(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction, perhaps with other threads' works; its result
        (or exception) once the transaction that holds it is committed (or not)."""
        result: T = self._queue.submit(_Work(work))
        return result

    def _group(self, take: Take[_Work[Any], Any]) -> None:
        """One group: its connection opened (the writer's turn at the gate taken) before the
        works are taken, so that those queued meanwhile join it."""
        with self._open() as connection:
            taken = take()
            self._running.connection = connection
            try:
                self._run(taken, connection)
            finally:
                self._running.connection = None

    def _run(self, jobs: list[_Job], connection: Connection) -> None:
        if len(jobs) == 1:
            # Alone: the transaction is the work's own, as without grouping.
            job = jobs[0]
            with connection.begin():
                job.result = job.item.run(connection)
            self._count(1)
            job.done = True
            return
        # A checked-out connection always has its driver's connection.
        driver = connection.connection.driver_connection
        try:
            with connection.begin():  # BEGIN (IMMEDIATE), before the first SAVEPOINT
                for job in jobs:
                    self._run_in_savepoint(job, connection, driver)
        except _Broken:
            pass  # rolled back by the transaction's block; the rest run alone below
        else:
            self._count(len(jobs))
            for job in jobs:
                job.done = True
            return
        for job in jobs:
            if job.error is not None:
                job.done = True  # failed on its own: its answer stands
            else:
                job.result = None
                try:
                    with connection.begin():
                        job.result = job.item.run(connection)
                    self._count(1)
                except Exception as error:
                    job.error = error
                job.done = True

    @staticmethod
    def _run_in_savepoint(job: _Job, connection: Connection, driver: Any) -> None:
        driver.execute(f"SAVEPOINT {_SAVEPOINT}")
        try:
            job.result = job.item.run(connection)
        except Exception as error:
            job.error = error
            try:
                driver.execute(f"ROLLBACK TO {_SAVEPOINT}")
                driver.execute(f"RELEASE {_SAVEPOINT}")
            except Exception as cause:
                raise _Broken() from cause
            if not connection.in_transaction() or connection.invalidated:
                raise _Broken() from error
            return
        driver.execute(f"RELEASE {_SAVEPOINT}")

    def _count(self, works: int) -> None:
        self.commits += 1
        self.works += works
