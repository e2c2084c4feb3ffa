"""The import worker of the process that stored a job claims it at once: an upload does not
wait up to a poll (``BOOKS_IMPORT_POLL_SECONDS``) before its rows start, and stopping an idle
worker does not wait for its poll either."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from books_service.transfer import jobs, runner
from common.db import Database
from tests.support.import_jobs import GOODREADS_HEADER, migrated_catalog, stored_job

A_LONG_POLL = 600.0


def _store_job(db: Database) -> int:
    return stored_job(db, (GOODREADS_HEADER + "1,Dune,Frank Herbert,,,,fiction,read\n").encode())


def _state_within(db: Database, job_id: int, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while True:
        with db.read() as session:
            state = jobs.get(session, job_id).state
        if state not in ("queued", "running") or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


@pytest.fixture
def idle_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[runner.Worker]:
    """This process's import worker, idle in a poll far longer than any test waits."""
    db = migrated_catalog(tmp_path)
    worker = runner.Worker(db, runner.Tuning(poll_seconds=A_LONG_POLL, prepare_in_child=False))
    monkeypatch.setattr(runner, "_started", {os.getpid(): worker})
    looked = threading.Event()
    first_look = worker.run_once

    def run_once() -> bool:
        try:
            return first_look()
        finally:
            looked.set()

    monkeypatch.setattr(worker, "run_once", run_once)
    worker.start()
    # Its first look found nothing (however slow the machine): it now waits for its next poll.
    assert looked.wait(30)
    yield worker
    worker.stop()


def test_a_job_stored_in_this_process_runs_without_waiting_for_the_poll(
    idle_worker: runner.Worker,
) -> None:
    job_id = _store_job(idle_worker.db)
    runner.wake_worker()
    assert _state_within(idle_worker.db, job_id, 30) == "succeeded"


def test_without_a_wake_up_the_job_waits_for_the_poll(idle_worker: runner.Worker) -> None:
    job_id = _store_job(idle_worker.db)
    assert _state_within(idle_worker.db, job_id, 1) == "queued"


def test_an_idle_worker_stops_at_once(idle_worker: runner.Worker) -> None:
    idle_worker.stop(timeout=5)
    assert idle_worker._thread is not None and not idle_worker._thread.is_alive()
