"""Group commit on SQLite (common/group_commit.py): the works that queue at the write gate
together share one transaction and one COMMIT, and yet each caller gets exactly the answer a
transaction of its own would have given: its own error, never another's; its result only once
its write is committed; and every work seeing the ones queued before it."""

from __future__ import annotations

import contextvars
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from common.db import Database, WriteGate
from tests.support.group_commit import run_grouped
from tests.support.postgres import PostgresServer


class Refused(Exception):
    """A work's own failure (as a 409 or 412 would be)."""


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'group.db'}")
    with database.transaction() as session:
        session.execute(text("CREATE TABLE rows (name TEXT PRIMARY KEY, seq INTEGER)"))
        session.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER)"))
        session.execute(text("INSERT INTO counter VALUES (1, 0)"))
        session.execute(
            text(
                "CREATE TABLE child (id INTEGER PRIMARY KEY, parent TEXT REFERENCES rows(name)"
                " DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    yield database
    database.dispose()


def _committed(db: Database, query: str) -> list[Any]:
    """What another connection sees: only committed rows."""
    path = db.engine.url.database
    assert path is not None
    with sqlite3.connect(path) as reader:
        return [row[0] for row in reader.execute(query)]


def _grouped(db: Database, works: list[Callable[[Connection], Any]]) -> list[tuple[str, Any]]:
    """Each work written from a thread of its own, all in one group (see
    :func:`tests.support.group_commit.run_grouped`)."""
    return run_grouped(db, [partial(db.write, work) for work in works])


def _insert(
    name: str, *, then: Callable[[Connection], Any] | None = None
) -> Callable[[Connection], Any]:
    def work(connection: Connection) -> str:
        connection.execute(text("INSERT INTO rows (name) VALUES (:name)"), {"name": name})
        if then is not None:
            then(connection)
        return name

    return work


def _refuse(_connection: Connection) -> None:
    raise Refused("refused")


def test_works_queued_together_share_one_commit(db: Database) -> None:
    assert db.groups is not None
    before = db.groups.commits
    outcomes = _grouped(db, [_insert(f"r{n}") for n in range(6)])
    assert outcomes == [("ok", f"r{n}") for n in range(6)]
    assert db.groups.commits - before == 1
    assert sorted(_committed(db, "SELECT name FROM rows")) == [f"r{n}" for n in range(6)]


CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="nobody")


def test_each_work_runs_in_its_callers_context_whichever_thread_leads(db: Database) -> None:
    # What Flask's current_app and g are made of: a work must see its own request's.
    def caller_named(name: str) -> Callable[[], Any]:
        def call() -> Any:
            CALLER.set(name)
            return db.write(lambda _connection: CALLER.get())

        return call

    outcomes = run_grouped(db, [caller_named(f"caller {n}") for n in range(3)])
    assert outcomes == [("ok", f"caller {n}") for n in range(3)]


def test_a_failing_work_is_rolled_back_alone_and_only_its_caller_gets_the_error(
    db: Database,
) -> None:
    works = [_insert("a"), _insert("b", then=_refuse), _insert("c"), _insert("a"), _insert("d")]
    outcomes = _grouped(db, works)
    assert outcomes[0] == ("ok", "a")
    assert outcomes[1][0] == "error" and isinstance(outcomes[1][1], Refused)
    assert outcomes[2] == ("ok", "c")
    # The same key as the first work: it sees that work's row, as it would its commit.
    assert outcomes[3][0] == "error" and isinstance(outcomes[3][1], IntegrityError)
    assert outcomes[4] == ("ok", "d")
    assert sorted(_committed(db, "SELECT name FROM rows")) == ["a", "c", "d"]


def test_free_running_writers_never_get_an_answer_before_their_commit(db: Database) -> None:
    path = db.engine.url.database
    assert path is not None
    early: list[str] = []

    def writer(thread: int) -> None:
        with sqlite3.connect(path) as reader:
            for n in range(40):
                name = f"t{thread}-{n}"
                db.write(_insert(name))
                found = reader.execute("SELECT 1 FROM rows WHERE name = ?", (name,)).fetchone()
                if found is None:
                    early.append(name)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert early == []
    assert len(_committed(db, "SELECT name FROM rows")) == 240


def test_version_checks_in_a_group_see_the_writes_queued_before_them(db: Database) -> None:
    def bump_from(expected: int) -> Callable[[Connection], int]:
        def work(connection: Connection) -> int:
            changed = connection.execute(
                text("UPDATE counter SET value = value + 1 WHERE id = 1 AND value = :v"),
                {"v": expected},
            ).rowcount
            if not changed:
                raise Refused(f"not at {expected}")
            return expected + 1

        return work

    # Five writers read version 0; then two that read 1 and 2 (a client that saw the first).
    works = [bump_from(0) for _ in range(5)] + [bump_from(1), bump_from(2)]
    outcomes = _grouped(db, works)
    assert outcomes[0] == ("ok", 1)
    assert all(status == "error" for status, _ in outcomes[1:5])
    assert outcomes[5:] == [("ok", 2), ("ok", 3)]
    assert _committed(db, "SELECT value FROM counter") == [3]


def test_a_failed_commit_answers_every_work_of_its_group_with_the_error_and_keeps_none(
    db: Database,
) -> None:
    def orphan(connection: Connection) -> None:
        # Checked only at COMMIT (a deferred foreign key): the whole group's commit fails.
        connection.execute(text("INSERT INTO child (id, parent) VALUES (1, 'nobody')"))

    outcomes = _grouped(db, [_insert("x"), orphan, _insert("y")])
    assert [status for status, _ in outcomes] == ["error"] * 3
    assert all(isinstance(error, IntegrityError) for _, error in outcomes)
    assert _committed(db, "SELECT name FROM rows") == []
    # And the next write goes through.
    assert db.write(_insert("z")) == "z"
    assert _committed(db, "SELECT name FROM rows") == ["z"]


def test_a_work_that_breaks_the_group_fails_alone_and_the_others_are_run_again_alone(
    db: Database,
) -> None:
    def break_the_savepoint(connection: Connection) -> None:
        # Leaves the group no savepoint to roll back to, then fails.
        connection.exec_driver_sql("RELEASE estante_work")
        raise Refused("broke it")

    assert db.groups is not None
    outcomes = _grouped(
        db, [_insert("p"), _insert("q", then=break_the_savepoint), _insert("r"), _insert("s")]
    )
    assert outcomes[0] == ("ok", "p")
    assert outcomes[1][0] == "error" and isinstance(outcomes[1][1], Refused)
    assert outcomes[2:] == [("ok", "r"), ("ok", "s")]
    assert sorted(_committed(db, "SELECT name FROM rows")) == ["p", "r", "s"]


def test_on_postgresql_each_work_has_a_transaction_of_its_own(
    request: pytest.FixtureRequest,
) -> None:
    postgres: PostgresServer = request.getfixturevalue("postgres")
    database = Database(postgres.create_database("groups"))
    try:
        assert database.groups is None  # its writers do not wait for one another
        with database.transaction() as session:
            session.execute(text("CREATE TABLE rows (name TEXT PRIMARY KEY)"))
        assert database.write(_insert("one")) == "one"
        with pytest.raises(Refused):
            database.write(_insert("two", then=_refuse))
        with database.read() as session:
            assert list(session.scalars(text("SELECT name FROM rows"))) == ["one"]
    finally:
        database.dispose()


class _FailingOnce(WriteGate):
    """A gate whose next turn fails as a lock file on a failing disk would."""

    def __init__(self, gate: WriteGate) -> None:
        super().__init__(None)
        self._real = gate
        self.fail_next = True

    @contextmanager
    def turn(self) -> Iterator[None]:
        if self.fail_next:
            self.fail_next = False
            raise OSError("the gate's file cannot be locked")
        with self._real.turn():
            yield


def test_a_leader_that_fails_before_its_group_answers_its_caller_and_the_queue_moves_on(
    db: Database,
) -> None:
    failing = _FailingOnce(db._gate)  # type: ignore[arg-type]  # the real gate, once refused
    db._gate = failing
    with pytest.raises(OSError):
        db.write(_insert("lost"))
    # Nobody is left waiting for a leader that gave up: the next writes go through.
    outcomes = _grouped(db, [_insert("after-1"), _insert("after-2")])
    assert outcomes == [("ok", "after-1"), ("ok", "after-2")]
    assert sorted(_committed(db, "SELECT name FROM rows")) == ["after-1", "after-2"]


def test_a_thread_already_in_its_turn_never_waits_in_the_queue_for_itself(db: Database) -> None:
    finished = threading.Event()

    def nested() -> None:
        def outer(_connection: Connection) -> str:
            # Inside a group's work the gate is this thread's: a write from here must not
            # queue behind the group it is in (it writes in a transaction of its own).
            return str(db.write(_insert("inner")))

        assert db.write(outer) == "inner"
        finished.set()

    thread = threading.Thread(target=nested, daemon=True)
    thread.start()
    assert finished.wait(60)
    assert _committed(db, "SELECT name FROM rows") == ["inner"]
