"""Import jobs as records: made from an upload, read, listed, cancelled, and claimed by a
worker under a lease. No HTTP here."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import IO, Any

from sqlalchemy import CursorResult, and_, func, or_, select, update
from sqlalchemy.orm import Session

from books_service.models import FINISHED, ImportJob, ImportReject
from books_service.transfer import files
from books_service.transfer.formats import Inspection
from common.clock import as_utc, isoformat, utcnow
from common.errors import Conflict, NotFound
from common.pagination import Cursor, Order, Page, SortKey, read_page

_job = ImportJob.__table__.c
ORDER = Order("imports", (SortKey(_job.id, "int"),), descending=True)
_worker_ids: dict[int, str] = {}


def worker_id() -> str:
    """This process's name in ``claimed_by``: host, pid and a random part (a pid is reused
    after a restart). Per process: Granian's workers are forked after this module is loaded."""
    pid = os.getpid()
    if pid not in _worker_ids:
        _worker_ids[pid] = f"{socket.gethostname()[:60]}:{pid}:{uuid.uuid4().hex[:8]}"
    return _worker_ids[pid]


class ImportNotFound(NotFound):
    type = "/problems/import-not-found"
    title = "Import not found"

    def __init__(self, job_id: int) -> None:
        super().__init__(f"There is no import with id {job_id}.")


class ImportFinished(Conflict):
    type = "/problems/import-finished"
    title = "The import has finished"


def create(
    session: Session,
    upload: IO[bytes],
    inspection: Inspection,
    *,
    filename: str,
    on_duplicate: str,
    dry_run: bool,
    by: str,
) -> ImportJob:
    job = ImportJob(
        state="queued",
        dry_run=dry_run,
        format=inspection.format,
        encoding=inspection.encoding,
        filename=filename,
        on_duplicate=on_duplicate,
        mapping=inspection.mapping,
        header=inspection.header,
        size_bytes=0,
        rows_done=0,
        created=0,
        updated=0,
        skipped=0,
        rejected=0,
        preview=[],
        created_by=by,
        created_at=utcnow(),
    )
    session.add(job)
    session.flush()
    upload.seek(0)
    job.size_bytes = files.store(session, job.id, upload)
    return job


def get(session: Session, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id) if 1 <= job_id <= 2**31 - 1 else None
    if job is None:
        raise ImportNotFound(job_id)
    return job


def listing(
    session: Session, *, limit: int, cursor: str | None
) -> tuple[list[ImportJob], Page, int]:
    """A page of jobs, newest first, and how many there are."""
    position = Cursor.decode(cursor, ORDER) if cursor else None
    page = read_page(
        select(_job.id), ORDER, position, limit, lambda query: session.execute(query).all()
    )
    ids = [row.id for row in page.rows]
    jobs = {j.id: j for j in session.scalars(select(ImportJob).where(ImportJob.id.in_(ids)))}
    total = session.scalar(select(func.count()).select_from(ImportJob)) or 0
    return [jobs[i] for i in ids if i in jobs], page, total


def cancel(session: Session, job_id: int) -> ImportJob:
    """Stop a job: a queued one never starts; a running one stops before its next batch
    commits (the batches committed so far stay)."""
    job = session.get(ImportJob, job_id, with_for_update=True) if 1 <= job_id <= 2**31 - 1 else None
    if job is None:
        raise ImportNotFound(job_id)
    if job.state in FINISHED:
        raise ImportFinished(
            f"Import {job_id} has already {job.state}; there is nothing to cancel."
        )
    job.state = "cancelled"
    job.finished_at = utcnow()
    job.lease_expires_at = None
    return job


def has_rejects(session: Session, job_id: int) -> bool:
    return (
        session.scalar(select(ImportReject.row).where(ImportReject.job_id == job_id).limit(1))
        is not None
    )


def as_json(job: ImportJob) -> dict[str, Any]:
    total = job.rows_total
    rate = job.rate
    eta = None
    if job.state == "running" and rate and total is not None:
        eta = round(max(total - job.rows_done, 0) / rate, 1)
    elif job.state in FINISHED:
        eta = 0.0 if job.state == "succeeded" else None
    return {
        "id": job.id,
        "state": job.state,
        "dry_run": job.dry_run,
        "format": job.format,
        "encoding": job.encoding,
        "filename": job.filename,
        "on_duplicate": job.on_duplicate,
        "rows_total": total,
        "rows_done": job.rows_done,
        "created": job.created,
        "updated": job.updated,
        "skipped": job.skipped,
        "rejected": job.rejected,
        "rate": round(rate, 1) if rate is not None else None,
        "eta_seconds": eta,
        "error": job.error,
        "created_by": job.created_by,
        "created_at": isoformat(job.created_at),
        "started_at": isoformat(job.started_at) if job.started_at else None,
        "finished_at": isoformat(job.finished_at) if job.finished_at else None,
        "preview": job.preview or [],
        "indexes_deferred": job.indexes_deferred,
    }


# --- Claims and leases -----------------------------------------------------------------------


def _claimable(now: datetime) -> Any:
    return or_(
        _job.state == "queued",
        and_(_job.state == "running", _job.lease_expires_at < now),
    )


def anything_to_claim(session: Session) -> bool:
    """The idle workers' poll: one indexed read, no lock."""
    now = utcnow()
    return session.scalar(select(_job.id).where(_claimable(now)).limit(1)) is not None


def claim(session: Session, lease_seconds: float, worker: str | None = None) -> int | None:
    """Take the oldest queued job, or a running one whose holder stopped renewing its lease.
    The UPDATE re-checks the condition: of two workers racing for one job, one wins."""
    now = utcnow()
    candidate = select(_job.id).where(_claimable(now)).order_by(_job.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    job_id = session.scalar(candidate)
    if job_id is None:
        return None
    result = session.execute(
        update(ImportJob)
        .where(_job.id == job_id, _claimable(now))
        .values(
            state="running",
            claimed_by=worker or worker_id(),
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            started_at=func.coalesce(_job.started_at, now),
        )
    )
    return job_id if _changed(result) == 1 else None


def renew(
    session: Session, job_id: int, lease_seconds: float, worker: str | None = None, **values: Any
) -> bool:
    """Extend the lease (and set ``values``) if this worker still holds a running job: False
    when it was cancelled or taken over, and the caller must stop."""
    result = session.execute(
        update(ImportJob)
        .where(
            _job.id == job_id, _job.claimed_by == (worker or worker_id()), _job.state == "running"
        )
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds), **values)
    )
    return _changed(result) == 1


def _changed(result: Any) -> int:
    """How many rows an UPDATE changed."""
    return result.rowcount if isinstance(result, CursorResult) else 0


def started(job: ImportJob) -> datetime | None:
    return as_utc(job.started_at) if job.started_at else None
