"""An import job made and claimed directly through the domain modules, for tests that run
``runner.run`` in process on a migrated SQLite catalog (no service, no upload)."""

from __future__ import annotations

import io
from pathlib import Path

from books_service.transfer import formats, jobs
from common import migrations
from common.db import Database

# The Goodreads columns these tests fill: enough for the format to be recognised.
GOODREADS_HEADER = (
    "Book Id,Title,Author,Additional Authors,ISBN,ISBN13,Bookshelves,Exclusive Shelf\n"
)


def migrated_catalog(tmp_path: Path) -> Database:
    """A new SQLite catalog at the head revision, in ``tmp_path``."""
    url = f"sqlite:///{tmp_path / 'books.db'}"
    migrations.upgrade("books", url)
    return Database(url)


def stored_job(db: Database, data: bytes, on_duplicate: str = "skip") -> int:
    """A queued job importing the file ``data`` as "library.csv", made by "ana", as
    ``POST /imports`` stores one (the file in its chunks)."""
    with db.transaction() as session:
        return jobs.create(
            session,
            io.BytesIO(data),
            formats.inspect(data),
            filename="library.csv",
            on_duplicate=on_duplicate,
            dry_run=False,
            by="ana",
        ).id


def claimed_job(db: Database, rows: list[str], on_duplicate: str = "skip") -> int:
    """A job importing a Goodreads file of ``rows`` (after the header), made by "ana" and
    claimed as a replica would claim it: ready for ``runner.run``."""
    job_id = stored_job(db, (GOODREADS_HEADER + "".join(rows)).encode(), on_duplicate)
    with db.transaction() as session:
        assert jobs.claim(session, 30) == job_id
    return job_id
