"""The SQLite write gate: one writer at a time across threads and processes, re-entrant within a
thread, and every write still committed (or rolled back) exactly as without it."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from common.db import Database, WriteGate, sqlite_file


def _hold_turns(gate_path: str, log_path: str, name: str, turns: int) -> None:
    gate = WriteGate(Path(gate_path))
    for _ in range(turns):
        with gate.turn():
            with open(log_path, "a") as log:
                log.write(f"{name} in\n")
            time.sleep(0.002)
            with open(log_path, "a") as log:
                log.write(f"{name} out\n")


def _assert_never_overlapped(lines: list[str], turns: int) -> None:
    assert len(lines) == 2 * turns
    for entered, left in zip(lines[::2], lines[1::2], strict=True):
        name = entered.split()[0]
        assert (entered, left) == (f"{name} in", f"{name} out"), lines


def test_the_gate_lets_one_process_in_at_a_time(tmp_path: Path) -> None:
    log = tmp_path / "log"
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=_hold_turns, args=(str(tmp_path / "books.db"), str(log), f"p{n}", 25)
        )
        for n in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    _assert_never_overlapped(log.read_text().splitlines(), 75)


def test_the_gate_lets_one_thread_in_at_a_time(tmp_path: Path) -> None:
    log = tmp_path / "log"
    threads = [
        threading.Thread(
            target=_hold_turns, args=(str(tmp_path / "books.db"), str(log), f"t{n}", 20)
        )
        for n in range(4)
    ]
    # One gate object per thread here would each hold its own descriptor: flock excludes them
    # too, as it does separate processes.
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    _assert_never_overlapped(log.read_text().splitlines(), 80)


def test_a_thread_may_take_its_turn_again_inside_its_turn(tmp_path: Path) -> None:
    gate = WriteGate(tmp_path / "books.db")
    with gate.turn(), gate.turn():
        pass
    other_got_in = threading.Event()

    def other() -> None:
        with gate.turn():
            other_got_in.set()

    thread = threading.Thread(target=other)
    thread.start()
    assert other_got_in.wait(5), "the gate stayed closed after the nested turns ended"
    thread.join()


def test_writes_through_the_gate_commit_and_roll_back_as_before(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'gate.db'}")
    with db.transaction() as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    with pytest.raises(RuntimeError), db.transaction() as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("rolled back")

    def add(n: int) -> None:
        with db.transaction() as session:
            session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})

    threads = [threading.Thread(target=add, args=(n,)) for n in range(2, 22)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.read() as session:
        assert sorted(session.scalars(text("SELECT n FROM t"))) == list(range(2, 22))
    db.dispose()
    assert (tmp_path / "gate.db-writegate").exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////srv/data/books.db", Path("/srv/data/books.db")),
        ("sqlite:///data/books.db", Path("data/books.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
    ],
)
def test_the_gate_file_sits_beside_the_database_file(url: str, expected: Path | None) -> None:
    assert sqlite_file(url) == expected
