"""A large import leaves the listing indexes out while it writes and builds them when it ends,
however it ends; a small one, a dry run or one into a much larger catalog keeps them; indexes an
interrupted import left out are built again by a worker once no unfinished job holds them; and
two builders at once never clash. On SQLite and PostgreSQL, with ``runner.run`` in process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text, update

from books_service.models import ImportJob
from books_service.transfer import jobs, listing_indexes, runner
from common.clock import utcnow
from common.db import Database
from tests.support.databases import migrated, new_books_url
from tests.support.import_jobs import claimed_job

SMALL = runner.Tuning(batch_rows=3, prepare_in_child=False, defer_indexes_rows=6)


class Crash(Exception):
    """The job's process dying in the middle of an import."""


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    with migrated("books", new_books_url(request, "listidx")) as database:
        yield database


def _rows(count: int, first: int = 1) -> list[str]:
    return [
        f'{n},Grande Sertão {n},Guimarães Rosa,Ana Sá,"=""""",,ficção,read\n'
        for n in range(first, first + count)
    ]


def _definitions(db: Database) -> dict[str, str]:
    with db.read() as session:
        if session.get_bind().dialect.name == "postgresql":
            query = "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(:names)"
            return dict(session.execute(text(query), {"names": list(listing_indexes.NAMES)}).all())
        query = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
        found = dict(session.execute(text(query)).all())
        return {name: found[name] for name in listing_indexes.NAMES if name in found}


def _missing(db: Database) -> list[str]:
    with db.read() as session:
        return listing_indexes.missing(session)


def _job(db: Database, job_id: int) -> ImportJob:
    with db.read() as session:
        job = jobs.get(session, job_id)
        session.expunge(job)
        return job


@pytest.fixture
def during_batches(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[int], None]], None]:
    """Call a function before each batch commits, with the batch's number (1, 2...)."""

    def install(then: Callable[[int], None]) -> None:
        commit = runner._commit
        batches = iter(range(1, 1_000))

        def spied(*args: Any, **kwargs: Any) -> Any:
            then(next(batches))
            return commit(*args, **kwargs)

        monkeypatch.setattr(runner, "_commit", spied)

    return install


def test_a_large_import_writes_without_the_listing_indexes_and_ends_with_them_as_they_were(
    db: Database, during_batches: Callable[[Callable[[int], None]], None]
) -> None:
    before = _definitions(db)
    assert sorted(before) == sorted(listing_indexes.NAMES)
    seen: list[list[str]] = []
    during_batches(lambda _: seen.append(_missing(db)))
    job_id = claimed_job(db, _rows(7))
    assert runner.run(db, job_id, SMALL) == "succeeded"
    assert seen == [list(listing_indexes.NAMES)] * 3
    assert _definitions(db) == before
    job = _job(db, job_id)
    assert (job.indexes_deferred, job.created) == (True, 7)
    with db.read() as session:
        titles = session.scalars(text("SELECT title FROM books ORDER BY title_key, id")).all()
    assert titles == sorted(f"Grande Sertão {n}" for n in range(1, 8))


def test_a_small_import_a_dry_run_and_one_into_a_catalog_four_times_larger_keep_them(
    db: Database, during_batches: Callable[[Callable[[int], None]], None]
) -> None:
    seen: list[list[str]] = []
    during_batches(lambda _: seen.append(_missing(db)))
    small = claimed_job(db, _rows(5))
    assert runner.run(db, small, SMALL) == "succeeded"
    dry = claimed_job(db, _rows(7, first=100))
    with db.transaction() as session:
        session.execute(update(ImportJob).where(ImportJob.id == dry).values(dry_run=True))
    assert runner.run(db, dry, SMALL) == "succeeded"
    # 30 books in the catalog; 7 rows are fewer than a quarter of them.
    assert runner.run(db, claimed_job(db, _rows(25, first=200)), SMALL) == "succeeded"
    last = claimed_job(db, _rows(7, first=300))
    assert runner.run(db, last, SMALL) == "succeeded"
    assert [_job(db, j).indexes_deferred for j in (small, dry, last)] == [False, False, False]
    # Only the 25-row import (over a quarter of the 5 books then) left them out.
    assert seen.count([]) == 2 + 3 + 3
    assert _missing(db) == []


def test_a_cancelled_import_builds_the_indexes_again_when_its_worker_lets_go(
    db: Database, during_batches: Callable[[Callable[[int], None]], None]
) -> None:
    job_id = claimed_job(db, _rows(9))

    def cancel_before_the_second(batch: int) -> None:
        if batch == 2:
            with db.transaction() as session:
                jobs.cancel(session, job_id)

    during_batches(cancel_before_the_second)
    assert runner.run(db, job_id, SMALL) == "lost"
    assert _missing(db) == []
    assert _job(db, job_id).rows_done == 3


def _crashed_job(db: Database, during_batches: Callable[[Callable[[int], None]], None]) -> int:
    """A large job whose process died after its first batch: running, its indexes left out."""
    job_id = claimed_job(db, _rows(9))

    def die_at_the_second(batch: int) -> None:
        if batch == 2:
            raise Crash

    during_batches(die_at_the_second)
    with pytest.raises(Crash):
        runner.run(db, job_id, SMALL)
    assert _missing(db) == list(listing_indexes.NAMES)
    return job_id


def test_a_job_taken_over_after_its_process_died_keeps_them_out_and_builds_them_at_its_end(
    db: Database, during_batches: Callable[[Callable[[int], None]], None]
) -> None:
    job_id = _crashed_job(db, during_batches)
    runner.build_missing_indexes(db)  # an idle worker: the job still holds them
    assert _missing(db) == list(listing_indexes.NAMES)
    with db.transaction() as session:  # its lease runs out
        past = utcnow() - timedelta(seconds=1)
        session.execute(update(ImportJob).values(lease_expires_at=past))
    during_batches(lambda _: None)
    assert runner.Worker(db, SMALL).run_once()
    job = _job(db, job_id)
    assert (job.state, job.created, job.indexes_deferred) == ("succeeded", 9, True)
    assert _missing(db) == []


def test_an_idle_worker_builds_what_a_dead_and_cancelled_job_left_out(
    db: Database, during_batches: Callable[[Callable[[int], None]], None]
) -> None:
    job_id = _crashed_job(db, during_batches)
    with db.transaction() as session:
        jobs.cancel(session, job_id)
    worker = runner.Worker(db, runner.Tuning(poll_seconds=0.05))
    worker.start()  # looks at its start
    try:
        deadline = time.monotonic() + 10
        while _missing(db) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert _missing(db) == []


def test_an_import_ending_while_another_holds_the_indexes_out_leaves_them_to_it(
    db: Database, during_batches: Callable[[Callable[[int], None]], None]
) -> None:
    holder = _crashed_job(db, during_batches)
    during_batches(lambda _: None)
    other = claimed_job(db, _rows(3, first=50))
    assert runner.run(db, other, SMALL) == "succeeded"
    assert _missing(db) == list(listing_indexes.NAMES)
    with db.transaction() as session:
        jobs.cancel(session, holder)
    runner.build_missing_indexes(db)
    assert _missing(db) == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("db", ["postgres"], indirect=True)  # SQLite's readers hold no table
def test_on_postgresql_an_import_keeps_them_when_a_long_transaction_holds_the_books(
    db: Database,
    during_batches: Callable[[Callable[[int], None]], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(listing_indexes, "LOCK_WAIT", "100ms")
    seen: list[list[str]] = []
    during_batches(lambda _: seen.append(_missing(db)))
    with db.engine.connect() as dumping:  # what a pg_dump holds for as long as it runs
        dumping.execute(text("LOCK TABLE books IN ACCESS SHARE MODE"))
        job_id = claimed_job(db, _rows(7))
        assert runner.run(db, job_id, SMALL) == "succeeded"
        dumping.rollback()
    assert seen == [[]] * 3
    assert _job(db, job_id).indexes_deferred is False


def test_two_builders_at_once_build_each_index_once_without_an_error(
    db: Database, during_batches: Callable[[Callable[[int], None]], None]
) -> None:
    job_id = _crashed_job(db, during_batches)
    with db.transaction() as session:
        jobs.cancel(session, job_id)
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def build() -> None:
        try:
            start.wait()
            with db.transaction() as session:
                listing_indexes.build_unless_held(session)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert _missing(db) == []


@pytest.mark.parametrize(
    ("rows", "catalog", "min_rows", "expected"),
    [
        (100_000, 0, 100_000, True),
        (99_999, 0, 100_000, False),
        (250_000, 1_000_000, 100_000, True),
        (249_999, 1_000_000, 100_000, False),
        (1_000_000, 0, 0, False),
    ],
)
def test_an_import_leaves_them_out_from_its_minimum_and_a_quarter_of_the_catalog(
    rows: int, catalog: int, min_rows: int, expected: bool
) -> None:
    assert listing_indexes.worth_leaving_out(rows, catalog, min_rows) is expected
