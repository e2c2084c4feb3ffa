"""An import whose rows a child process reads and checks while the job's process writes them
(``transfer/pipeline.py``): the same catalog as in one process, and every way the child can
end badly ends the job cleanly: an error fails it with its message, a child killed once is
replaced and the job ends with exactly the rows of the file, killed twice the job fails at a
batch boundary, and a cancelled job takes its child with it. No child is ever left behind."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from books_service.transfer import importer, jobs, runner
from common.db import Database
from tests.support.import_jobs import claimed_job, migrated_catalog

ISBNS = {2: "9780306406157", 4: "0441172717", 7: "9780262033848"}
ROWS = [
    f'{n},Book {n},Ana Lima{n % 3},,="{ISBNS.get(n, "")}",,fiction,read\n' for n in range(1, 21)
]
# Row 21 has no title (a reject); row 22 is row 1 again (a duplicate in the file).
ROWS += [",,Nobody,,,,,read\n", ROWS[0].replace("1,", "22,", 1)]
PARENT = os.getpid()


def _run(db: Database, job_id: int, **tuning: Any) -> str:
    return runner.run(db, job_id, runner.Tuning(batch_rows=4, **tuning))


def _catalog(db: Database) -> list[tuple[Any, ...]]:
    """Every book, facet, source and history row, without ids and times."""
    with db.read() as session:
        return [
            *session.execute(
                text(
                    "SELECT title, author, authors, isbn, subjects, title_key, author_key, "
                    "duplicate_key, search_text FROM books ORDER BY title"
                )
            ),
            *session.execute(
                text(
                    "SELECT b.title, a.name_key FROM book_authors a JOIN books b "
                    "ON b.id = a.book_id ORDER BY 1, 2"
                )
            ),
            *session.execute(
                text(
                    "SELECT b.title, s.source, s.source_id FROM book_sources s JOIN books b "
                    "ON b.id = s.book_id ORDER BY 1"
                )
            ),
            *session.execute(
                text(
                    "SELECT b.title, h.changes, h.origin FROM book_history h JOIN books b "
                    "ON b.id = h.book_id ORDER BY 1"
                )
            ),
            *session.execute(text("SELECT row, original, reason FROM import_rejects")),
        ]


def _job(db: Database, job_id: int) -> Any:
    with db.read() as session:
        return jobs.get(session, job_id)


def _books(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(text("SELECT COUNT(*) FROM books")) or 0)


def _no_child_left() -> bool:
    return not [p for p in multiprocessing.active_children() if p.name.startswith("estante-")]


def _in_the_child() -> bool:
    return os.getpid() != PARENT


def test_a_child_preparing_the_rows_makes_the_catalog_one_process_makes(tmp_path: Path) -> None:
    """The file imported, then again with duplicates added (the rows whose ISBN the catalog
    has are refused by the match: their original records go to the rejects), then again with
    updates: every count, preview and row the same with and without the child."""
    results = []
    for prepare_in_child in (True, False):
        (tmp_path / str(prepare_in_child)).mkdir()
        db = migrated_catalog(tmp_path / str(prepare_in_child))
        for on_duplicate in ("skip", "add", "update"):
            changed = (
                ROWS if on_duplicate != "update" else [r.replace("fiction", "sf") for r in ROWS]
            )
            job_id = claimed_job(db, changed, on_duplicate)
            assert _run(db, job_id, prepare_in_child=prepare_in_child) == "succeeded"
            job = _job(db, job_id)
            counts = (job.rows_done, job.created, job.updated, job.skipped, job.rejected)
            results.append((prepare_in_child, on_duplicate, counts, job.preview))
        results.append((prepare_in_child, "catalog", _catalog(db)))
        db.dispose()
    with_child, without = results[:4], results[4:]
    assert [r[2] for r in with_child[:3]] == [
        (22, 20, 0, 1, 1),  # row 22 repeats row 1; row 21 has no title
        (22, 18, 0, 0, 4),  # added again, except the 3 rows whose ISBN is taken
        (22, 0, 20, 1, 1),  # each row changes the book it matches first
    ]
    assert [r[1:] for r in with_child] == [r[1:] for r in without]
    assert _no_child_left()


def test_an_error_in_the_preparing_process_fails_the_job_with_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = migrated_catalog(tmp_path)
    job_id = claimed_job(db, ROWS)
    check = importer.check

    def failing(rows: Any) -> list[importer.Planned]:
        if _in_the_child() and rows[0].number > 8:
            raise RuntimeError("the third batch cannot be read")
        return check(rows)

    monkeypatch.setattr(importer, "check", failing)
    assert _run(db, job_id) == "failed"
    job = _job(db, job_id)
    assert job.state == "failed"
    assert job.error == ("preparing the rows failed: RuntimeError: the third batch cannot be read")
    assert job.rows_done == 8 and _books(db) == 8  # the two batches before it, committed
    assert _no_child_left()


def _killed_at_the_third_batch(marker: Path | None) -> Any:
    """``importer.check`` that kills the child preparing the third batch of the job (each
    time, or once when ``marker`` is given: the file says it happened)."""
    check = importer.check
    seen: list[int] = []

    def killing(rows: Any) -> list[importer.Planned]:
        if _in_the_child():
            seen.append(rows[0].number)
            if len(seen) == 3 and (marker is None or not marker.exists()):
                if marker is not None:
                    marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)
        return check(rows)

    return killing


def test_a_preparing_process_killed_once_is_replaced_and_the_job_has_exactly_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = migrated_catalog(tmp_path)
    job_id = claimed_job(db, ROWS)
    monkeypatch.setattr(importer, "check", _killed_at_the_third_batch(tmp_path / "killed"))
    assert _run(db, job_id) == "succeeded"
    assert (tmp_path / "killed").exists()
    job = _job(db, job_id)
    assert (job.rows_done, job.created, job.skipped, job.rejected) == (22, 20, 1, 1)
    with db.read() as session:
        history = session.execute(
            text("SELECT COUNT(*), COUNT(DISTINCT book_id) FROM book_history")
        ).one()
    assert _books(db) == 20 and tuple(history) == (20, 20)
    assert _no_child_left()


def test_a_preparing_process_killed_twice_fails_the_job_at_a_batch_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = migrated_catalog(tmp_path)
    job_id = claimed_job(db, ROWS)
    monkeypatch.setattr(importer, "check", _killed_at_the_third_batch(None))
    assert _run(db, job_id) == "failed"
    job = _job(db, job_id)
    # The first child sent rows 1-8 and died; the second went on from row 9, sent 9-16, died.
    assert job.error == (
        "the process preparing the rows was killed (SIGKILL) twice; the rows up to 16 are imported"
    )
    assert job.rows_done == 16 and job.created == 16 and _books(db) == 16
    assert _no_child_left()


def test_a_cancelled_job_stops_its_preparing_process(tmp_path: Path) -> None:
    db = migrated_catalog(tmp_path)
    # More batches than the pipe between the processes holds: the child is still at work.
    job_id = claimed_job(db, [f"{n},Book {n},Ana Lima,,,,,read\n" for n in range(1, 2001)])
    result: list[str] = []
    worker = threading.Thread(
        target=lambda: result.append(_run(db, job_id, pause_seconds=0.2)), daemon=True
    )
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while _job(db, job_id).rows_done < 8:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        children = [p for p in multiprocessing.active_children() if p.name.startswith("estante")]
        assert len(children) == 1 and children[0].is_alive()
    finally:
        with db.transaction() as session:
            jobs.cancel(session, job_id)
        worker.join(20)
    assert result == ["lost"]
    children[0].join(5)
    assert not children[0].is_alive() and _no_child_left()
    job = _job(db, job_id)
    assert job.state == "cancelled" and job.rows_done < 2000
    assert _books(db) == job.created == job.rows_done  # whole batches, nothing after


def test_a_preparing_process_that_hangs_is_stopped_and_the_job_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = migrated_catalog(tmp_path)
    job_id = claimed_job(db, ROWS)
    check = importer.check

    def hanging(rows: Any) -> list[importer.Planned]:
        if _in_the_child() and rows[0].number > 4:
            time.sleep(60)
        return check(rows)

    monkeypatch.setattr(importer, "check", hanging)
    started = time.monotonic()
    assert _run(db, job_id, stalled_seconds=0.5) == "failed"
    assert time.monotonic() - started < 20
    job = _job(db, job_id)
    # The first child sent rows 1-4 and hung; the second, from row 5, hung at once.
    assert job.error == (
        "the process preparing the rows sent nothing for 0.5 s twice; the rows up to 4 are imported"
    )
    assert job.rows_done == 4 and _books(db) == 4
    assert _no_child_left()
