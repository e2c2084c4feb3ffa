"""The listing indexes a large import leaves out while it writes, and builds once at its end.

A new book goes into some ten B-tree indexes. Most take it at or near their end (ids, dates,
years, languages), but the keys of the title, author and publisher orders and the authors'
names come in no order: in a large catalog nearly every row of a batch dirties a page of its
own in each of those four, written to the log and again into the database. An index built from
all its rows at once is one sort instead. So, as both databases' manuals advise for a bulk load
("Populating a Database", "CREATE INDEX"), an import of at least ``min_rows`` rows and of at
least a quarter as many rows as the catalog has books leaves those four out while it writes
and builds them once when it ends (a million rows into an empty catalog: docs/performance.md).

Only those four: none is unique and no check reads them. The live-ISBN uniqueness, the
duplicate key and the search index stay, so every write is checked as before, and a reader gets
the same answers without them, only more slowly (a list sorted by title, author or publisher,
or filtered by author, reads the books it sorts). The job's ``indexes_deferred`` says so.

Who builds them again: the job, in the transaction that ends it, however it ends (so a job that
succeeded is a catalog with every index); and any import worker that finds them missing while
no unfinished job has left them out (a job whose process died, then cancelled): at its start,
after each job and every minute while idle. Leaving them out and building them again both hold
one lock (SQLite's write lock; on PostgreSQL an advisory lock), so replicas never race."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Index, Table, func, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateIndex, DropIndex

from books_service.models import FINISHED, Book, BookAuthor, ImportJob

NAMES = (
    "ix_books_title_key",
    "ix_books_author_key",
    "ix_books_publisher_key",
    "ix_book_authors_name_key",
)
# An import of fewer rows than a quarter of the catalog's books would rebuild more than it saves.
CATALOG_SHARE = 4
# PostgreSQL: the advisory lock both steps hold (two int4 keys: a space apart from the titles'
# one-bigint locks, books_service.pg_writes).
_LOCK = (1_634_625_893, 1)  # "import" and a one
# PostgreSQL: how long dropping them waits for the tables (a DROP INDEX waits for every open
# transaction that read them, a backup's pg_dump say, and every request queues behind it).
LOCK_WAIT = "2s"
_job = cast(Table, ImportJob.__table__).c


def _indexes() -> list[Index]:
    tables = (cast(Table, Book.__table__), cast(Table, BookAuthor.__table__))
    by_name = {str(index.name): index for table in tables for index in table.indexes}
    return [by_name[name] for name in NAMES]


def worth_leaving_out(rows: int, catalog: int, min_rows: int) -> bool:
    """Whether an import of ``rows`` rows into a catalog of ``catalog`` live books should leave
    the listing indexes out (``min_rows`` 0: never)."""
    return 0 < min_rows <= rows and rows * CATALOG_SHARE >= catalog


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _serialise(session: Session) -> None:
    """On PostgreSQL, the lock both steps hold to the end of the transaction. (SQLite's write
    transactions hold the database's write lock from their start.)"""
    if _postgres(session):
        session.execute(select(func.pg_advisory_xact_lock(*_LOCK)))


def missing(session: Session) -> list[str]:
    """Which of the listing indexes the catalog does not have now."""
    if _postgres(session):
        query = text(
            "SELECT relname FROM pg_class WHERE relkind = 'i' AND relname = ANY(:names) "
            "AND pg_table_is_visible(oid)"
        )
        present = set(session.scalars(query, {"names": list(NAMES)}))
    else:
        query = text("SELECT name FROM sqlite_master WHERE type = 'index'")
        present = set(session.scalars(query))
    return [name for name in NAMES if name not in present]


def leave_out(session: Session, job_id: int) -> None:
    """Drop the listing indexes for job ``job_id`` and say so on the job, in the caller's
    transaction. On PostgreSQL, a lock on the tables not granted within :data:`LOCK_WAIT`
    raises (``DBAPIError``): the caller rolls back and keeps them."""
    _serialise(session)
    if _postgres(session):
        session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
    for index in _indexes():
        session.execute(DropIndex(index, if_exists=True))
    session.execute(update(ImportJob).where(_job.id == job_id).values(indexes_deferred=True))


def _held(session: Session) -> bool:
    """Whether an unfinished job has left the indexes out."""
    unfinished = _job.state.not_in(sorted(FINISHED))
    holder = select(_job.id).where(_job.indexes_deferred, unfinished).limit(1)
    return session.scalar(holder) is not None


def build_unless_held(session: Session) -> list[str]:
    """Build the missing listing indexes, in the caller's transaction, unless an unfinished job
    has left them out; the names built."""
    _serialise(session)
    gone = missing(session)
    if not gone or _held(session):
        return []
    for index in _indexes():
        if index.name in gone:
            session.execute(CreateIndex(index, if_not_exists=True))
    return gone


def unheld_and_missing(session: Session) -> bool:
    """A read-only look, for idle workers: are indexes missing that nobody holds out?"""
    return bool(missing(session)) and not _held(session)
