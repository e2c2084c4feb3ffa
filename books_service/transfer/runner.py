"""Running an import job, and the worker thread each Books Service process keeps.

A job is read from its stored file from the start; rows before ``rows_done`` are passed over,
so a job taken over after a crash goes on from the first row no batch committed. Each batch
commits in one transaction with the job's progress and a renewed lease: never half a batch.
When the lease was lost (the job was cancelled, or taken over by another replica after this
one stalled), the batch is rolled back and the worker lets go.

Every process runs one worker thread, started after the fork (in the app factory, which runs in
each Granian worker). Idle, it costs one indexed query per poll."""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError

from books_service import counts
from books_service.models import ImportJob
from books_service.transfer import formats, importer, jobs, listing_indexes, pipeline
from books_service.transfer.files import open_stored
from books_service.transfer.rows import FileProblem
from common.bulk_writes import BulkWrites
from common.clock import utcnow
from common.db import Database

log = logging.getLogger("estante.imports")
_job = ImportJob.__table__.c


@dataclass(frozen=True)
class Tuning:
    batch_rows: int = 2000
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    pause_seconds: float = 0.0
    # Read and check the rows in a child process while this one writes (transfer/pipeline.py).
    prepare_in_child: bool = True
    # SQLite: the page cache of the connection that writes the batches (common/bulk_writes.py).
    sqlite_cache_mib: int = 64
    stalled_seconds: float = pipeline.STALLED_SECONDS
    # Imports of at least this many rows leave the listing indexes out while they write
    # (transfer/listing_indexes.py); 0: never.
    defer_indexes_rows: int = 100_000


class LostJob(Exception):
    """The job was cancelled or taken over: the batch in hand must not commit."""


def run(db: Database, job_id: int, tuning: Tuning, worker: str | None = None) -> str:
    """Process a claimed job to its end (or until it is lost); returns its state."""
    with _fewer_collections():
        return _run(db, job_id, tuning, worker)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """The cyclic garbage collector less often while a job runs. A batch makes some hundred
    thousand small objects, nearly none in cycles, and every few hundred allocations the default
    thresholds start a collection that walks the young ones (and now and then all the
    process's objects): a tenth of an import's CPU, measured. What exists when the job starts is
    set aside (``gc.freeze``) and returned to the collector when it ends; the young generation is
    collected every 50,000 allocations instead of 700, and once after each batch (``_run``).

    That last collection keeps memory flat: a batch leaves some reference cycles behind
    (SQLAlchemy's statements, each holding a lookup's list of up to 900 keys, the sessions),
    and a collection in the middle of the next batch moved them to the older generations, where
    they waited for a full collection; a 1,000,000-row import grew by ~130 MiB that way (88 ->
    220 MiB, flat only from ~470,000 rows on). Collected when the batch is done, they are still
    young: ~10 ms a batch of 2,000 rows."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, threshold[1], threshold[2])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _run(db: Database, job_id: int, tuning: Tuning, worker: str | None) -> str:
    worker = worker or jobs.worker_id()
    with db.read() as session:
        job = jobs.get(session, job_id)
        spec = formats.FORMATS[job.format]
        context = importer.Context(
            job_id=job.id,
            filename=job.filename,
            source=spec.source,
            on_duplicate=job.on_duplicate,
            dry_run=job.dry_run,
            by=job.created_by,
        )
        encoding, mapping, done, total = job.encoding, job.mapping, job.rows_done, job.rows_total
        job_format = job.format
        deferred = job.indexes_deferred
        preview = list(job.preview or [])

    def heartbeat(**values: Any) -> None:
        with db.transaction() as session:
            if not jobs.renew(session, job_id, tuning.lease_seconds, worker, **values):
                raise LostJob

    try:
        if total is None:
            total = formats.count(spec, open_stored(db.read, job_id), encoding, heartbeat)
            heartbeat(rows_total=total)
        if not context.dry_run and not deferred:
            _defer_indexes(db, job_id, total - done, tuning, worker)
        started, first, restarted = time.monotonic(), done, False
        while True:
            try:
                reading = pipeline.Job(
                    db.url, job_id, job_format, encoding, mapping, done, tuning.batch_rows,
                    originals=context.on_duplicate == "add",
                )  # fmt: skip
                # The writes' thread and connection come after the child's fork: a fork
                # copies no thread, and a lock SQLite held in one would stay held in the child.
                with (
                    _batches(db, reading, total, tuning, heartbeat) as batches,
                    BulkWrites(
                        db, tuning.sqlite_cache_mib, analyze=importer.TABLES_FILLED
                    ) as writes,
                ):
                    for batch in batches:
                        rate = (batch[-1].row.number - first) / max(
                            time.monotonic() - started, 1e-3
                        )
                        preview = _commit(writes, batch, context, tuning, worker, preview, rate)
                        done = batch[-1].row.number
                        del batch
                        gc.collect(0)  # the batch's reference cycles, still young
                        if tuning.pause_seconds:
                            time.sleep(tuning.pause_seconds)
                break
            except pipeline.Stopped as stopped:
                # Killed from outside (the kernel's out-of-memory killer, an operator): once,
                # a new one goes on from the last committed batch; twice, the job fails.
                if restarted:
                    return _finish(
                        db, job_id, worker, "failed",
                        error=f"{stopped} twice; the rows up to {done} are imported",
                    )  # fmt: skip
                log.warning("import %s: %s; again from row %s", job_id, stopped, done + 1)
                restarted = True
        return _finish(db, job_id, worker, "succeeded", rows_total=max(total, done))
    except LostJob:
        log.info("import %s: cancelled or taken over; this worker lets go", job_id)
        build_missing_indexes(db)
        return "lost"
    except FileProblem as problem:
        return _finish(db, job_id, worker, "failed", error=str(problem))
    except pipeline.Failed as failed:
        return _finish(db, job_id, worker, "failed", error=str(failed))


@contextmanager
def _batches(
    db: Database, job: pipeline.Job, total: int, tuning: Tuning, heartbeat: Heartbeat
) -> Iterator[Iterator[list[importer.Planned]]]:
    """The checked batches after row ``job.done``: prepared by a child process while this one
    writes (:mod:`books_service.transfer.pipeline`) when more than one batch is left, else
    here (nothing to overlap: a fork would only add its cost)."""
    if tuning.prepare_in_child and total - job.done > job.batch_rows:
        every = tuning.lease_seconds / 3
        with pipeline.prepared(job, heartbeat, every, tuning.stalled_seconds) as batches:
            yield batches
        return
    rows = formats.FORMATS[job.format].read(
        open_stored(db.read, job.job_id), job.encoding, job.mapping
    )
    yield pipeline.batches(rows, job.done, job.batch_rows)


def _commit(
    writes: BulkWrites,
    batch: list[importer.Planned],
    context: importer.Context,
    tuning: Tuning,
    worker: str,
    preview: list[dict[str, Any]],
    rate: float,
) -> list[dict[str, Any]]:
    """Plan and write one checked batch with the job's progress, atomically. A concurrent
    writer that took an ISBN between the plan and the write fails the transaction: planned
    again."""
    for attempt in range(3):
        try:
            with writes.transaction() as session:
                planned = importer.plan(session, batch, context)
                outcome = importer.write(session, planned, context, utcnow())
                values: dict[str, Any] = {
                    "rows_done": batch[-1].row.number,
                    "created": _job.created + outcome.created,
                    "updated": _job.updated + outcome.updated,
                    "skipped": _job.skipped + outcome.skipped,
                    "rejected": _job.rejected + outcome.rejected,
                    "rate": rate,
                }
                if outcome.preview:
                    values["preview"] = (preview + outcome.preview)[: importer.PREVIEW_ROWS]
                if not jobs.renew(session, context.job_id, tuning.lease_seconds, worker, **values):
                    raise LostJob
            return values.get("preview", preview)
        except IntegrityError:
            if attempt == 2:
                raise
    return preview


def _defer_indexes(db: Database, job_id: int, rows: int, tuning: Tuning, worker: str) -> None:
    """Leave the listing indexes out for the rest of the job if it is large enough (and, on
    PostgreSQL, if the tables are not held by a long transaction: else the job keeps them)."""
    try:
        with db.transaction() as session:
            catalog = counts.live_books(session)
            if not listing_indexes.worth_leaving_out(rows, catalog, tuning.defer_indexes_rows):
                return
            if not jobs.renew(session, job_id, tuning.lease_seconds, worker):
                raise LostJob
            listing_indexes.leave_out(session, job_id)
    except DBAPIError as error:
        log.warning("import %s keeps the listing indexes: %s", job_id, error.orig)
        return
    log.info("import %s: %s rows into %s books; the listing indexes wait", job_id, rows, catalog)


def _finish(db: Database, job_id: int, worker: str, state: str, **values: Any) -> str:
    """End the job, and build the listing indexes in the same transaction if it left them out
    and no other unfinished job has: a job that succeeded is a catalog with every index."""
    with db.transaction() as session:
        jobs.renew(session, job_id, 0, worker, state=state, finished_at=utcnow(), **values)
        listing_indexes.build_unless_held(session)
    return state


def build_missing_indexes(db: Database) -> None:
    """Build the listing indexes if they are missing and no unfinished job holds them out (a
    job whose process died): a read first, the write transaction only when there is work."""
    with db.read() as session:
        if not listing_indexes.unheld_and_missing(session):
            return
    with db.transaction() as session:
        built = listing_indexes.build_unless_held(session)
    if built:
        log.warning("listing indexes built again after an interrupted import: %s", built)


# How often an idle worker looks for listing indexes an interrupted import left out.
INDEX_CHECK_SECONDS = 60.0


class Worker:
    """The thread that claims and runs jobs in this process, and builds the listing indexes
    again if an import that left them out was interrupted (at its start, after each job and
    every ``INDEX_CHECK_SECONDS`` while idle)."""

    def __init__(self, db: Database, tuning: Tuning) -> None:
        self.db = db
        self.tuning = tuning
        self._stop = threading.Event()
        # Set to end an idle wait early: by stop(), or by wake() when a job was just stored.
        self._nudged = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="estante-imports", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        self._nudged.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Look for a job now instead of at the next poll."""
        self._nudged.set()

    def run_once(self) -> bool:
        """Claim one job and run it; False when there was nothing to do."""
        with self.db.read() as session:
            if not jobs.anything_to_claim(session):
                return False
        with self.db.transaction() as session:
            job_id = jobs.claim(session, self.tuning.lease_seconds)
        if job_id is None:
            return False
        log.info("import %s: claimed by %s", job_id, jobs.worker_id())
        try:
            run(self.db, job_id, self.tuning)
        except DBAPIError:
            raise  # the database went away: the lease runs out and the job is taken up again
        except Exception as error:
            log.exception("import %s failed", job_id)
            _finish(
                self.db,
                job_id,
                jobs.worker_id(),
                "failed",
                error=f"internal error ({type(error).__name__})",
            )
        return True

    def _loop(self) -> None:
        last_logged = 0.0
        checked = float("-inf")  # so the first turn looks
        while not self._stop.is_set():
            try:
                worked = self.run_once()
                if worked or time.monotonic() - checked >= INDEX_CHECK_SECONDS:
                    build_missing_indexes(self.db)
                    checked = time.monotonic()
            except Exception:
                # A database that is down fails every poll: said once a minute, not every second.
                if time.monotonic() - last_logged > 60:
                    log.exception("the import worker hit an error; it goes on")
                    last_logged = time.monotonic()
                worked = False
            if not worked:
                self._nudged.wait(self.tuning.poll_seconds)
                self._nudged.clear()


_started: dict[int, Worker] = {}


def start_worker(db: Database, tuning: Tuning) -> Worker | None:
    """One worker per process (per pid: a forked process starts its own)."""
    pid = os.getpid()
    if pid in _started:
        return None
    worker = Worker(db, tuning)
    _started[pid] = worker
    worker.start()
    return worker


def wake_worker() -> None:
    """Tell this process's worker, if it has one, that a job was just stored: the process that
    took the upload claims it at once rather than up to a poll later (the other processes
    still find it at their next poll, and take it over if this one dies)."""
    worker = _started.get(os.getpid())
    if worker is not None:
        worker.wake()


Heartbeat = Callable[..., None]
