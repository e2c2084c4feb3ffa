"""The Books Service's tables. Only this service reads or writes them.

Besides what a client sends, each book row carries derived columns (the ``*_key`` columns,
``year_sort`` and ``search_text``) computed in Python by :mod:`books_service.records` on every
write, so that sorting, duplicate detection and search behave the same on SQLite and PostgreSQL.
Full-text search itself lives outside these models (an FTS5 table on SQLite, a GIN expression
index on PostgreSQL), created by the migration: see :mod:`books_service.search`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from common.clock import utcnow
from common.db import service_metadata

TITLE_MAX = 500
AUTHOR_MAX = 300
AUTHORS_MAX = 50
TEXT_MAX = 300
DESCRIPTION_MAX = 10_000
URL_MAX = 2000
SUBJECT_MAX = 100
SUBJECTS_MAX = 50
USERNAME_MAX = 64
# The sort value of a book without a year: before any real year (years go down to -9999).
NO_YEAR = -32768
LIVE = text("deleted_at IS NULL")


def sort_key(length: int) -> TypeEngine[str]:
    """A folded key column: compared byte by byte on PostgreSQL as on SQLite. The keys are
    folded already, so byte order is the right order; and unlike a locale's collation it is
    the same everywhere and never changes under an index when the system's locale data does."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class BooksBase(DeclarativeBase):
    metadata = service_metadata()


class Book(BooksBase):
    __tablename__ = "books"
    __table_args__ = (
        # One live book per ISBN (this is what makes concurrent duplicates impossible); a
        # deleted book keeps its ISBN without blocking a new record.
        Index("uq_books_isbn_live", "isbn", unique=True, sqlite_where=LIVE, postgresql_where=LIVE),
        # Every sort order has an index ending in id, the tie-breaker, so a page at any depth is
        # one index range scan (keyset pagination).
        Index("ix_books_title_key", "title_key", "id"),
        Index("ix_books_author_key", "author_key", "id"),
        Index("ix_books_year_sort", "year_sort", "id"),
        Index("ix_books_created_at", "created_at", "id"),
        Index("ix_books_updated_at", "updated_at", "id"),
        Index("ix_books_language", "language", "id"),
        Index("ix_books_publisher_key", "publisher_key", "id"),
        Index("ix_books_duplicate_key", "duplicate_key"),
        # Only deleted rows: an index over all rows would tempt SQLite's planner to use it
        # for "deleted_at IS NULL" (true of nearly every row) instead of the sort's index.
        Index(
            "ix_books_deleted_at",
            "deleted_at",
            "id",
            sqlite_where=text("deleted_at IS NOT NULL"),
            postgresql_where=text("deleted_at IS NOT NULL"),
        ),
        # Ids are never reused on SQLite either, so an ETag ("<id>-<version>") of a purged
        # book can never match a later one.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    subtitle: Mapped[str | None] = mapped_column(String(TITLE_MAX))
    # The spec's display string, and the ordered list of names it stands for.
    author: Mapped[str] = mapped_column(String(AUTHOR_MAX))
    authors: Mapped[list[str]] = mapped_column(JSON, server_default=text("'[]'"))
    isbn: Mapped[str | None] = mapped_column(String(13))  # always the ISBN-13
    publisher: Mapped[str | None] = mapped_column(String(TEXT_MAX))
    published_year: Mapped[int | None] = mapped_column(Integer)
    published_date: Mapped[str | None] = mapped_column(String(10))  # YYYY, YYYY-MM, YYYY-MM-DD
    language: Mapped[str | None] = mapped_column(String(3))
    page_count: Mapped[int | None] = mapped_column(Integer)
    subjects: Mapped[list[str]] = mapped_column(JSON, server_default=text("'[]'"))
    description: Mapped[str | None] = mapped_column(Text)
    cover_url: Mapped[str | None] = mapped_column(String(URL_MAX))
    series: Mapped[str | None] = mapped_column(String(TEXT_MAX))
    series_index: Mapped[float | None] = mapped_column(Float)
    copies: Mapped[int] = mapped_column(Integer, server_default="1")

    # Derived on every write (books_service.records.derived_keys): folded (no accents, no
    # case) forms for sorting, filtering, duplicates and search.
    title_key: Mapped[str] = mapped_column(sort_key(TITLE_MAX), server_default="")
    author_key: Mapped[str] = mapped_column(sort_key(AUTHOR_MAX), server_default="")
    publisher_key: Mapped[str | None] = mapped_column(sort_key(TEXT_MAX))
    year_sort: Mapped[int] = mapped_column(Integer, server_default=str(NO_YEAR))
    duplicate_key: Mapped[str] = mapped_column(String(64), server_default="")
    search_text: Mapped[str] = mapped_column(Text, server_default="")

    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Usernames from the tokens of whoever added, last changed and deleted the book.
    created_by: Mapped[str] = mapped_column(String(USERNAME_MAX))
    updated_by: Mapped[str | None] = mapped_column(String(USERNAME_MAX))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[str | None] = mapped_column(String(USERNAME_MAX))


class BookAuthor(BooksBase):
    """Each book's author names, folded, one row per name: the ``author`` filter is an index
    lookup instead of a scan of every book."""

    __tablename__ = "book_authors"
    __table_args__ = (Index("ix_book_authors_name_key", "name_key", "book_id"),)

    book_id: Mapped[int] = mapped_column(
        ForeignKey("books.id", ondelete="CASCADE"), primary_key=True
    )
    name_key: Mapped[str] = mapped_column(String(AUTHOR_MAX), primary_key=True)


class BookSubject(BooksBase):
    """Each book's subjects, folded, one row per subject (for the ``subject`` filter)."""

    __tablename__ = "book_subjects"
    __table_args__ = (Index("ix_book_subjects_subject_key", "subject_key", "book_id"),)

    book_id: Mapped[int] = mapped_column(
        ForeignKey("books.id", ondelete="CASCADE"), primary_key=True
    )
    subject_key: Mapped[str] = mapped_column(String(SUBJECT_MAX), primary_key=True)


class BookCount(BooksBase):
    """How many live books there are, kept in the same transaction as every create, delete and
    restore, so ``X-Total-Count`` of the whole catalog costs the same at a million books as at
    ten. The count is spread over a few slots that writers pick at random: concurrent writers on
    PostgreSQL then rarely wait for each other's row lock. The total is the sum of the slots.

    ``changes`` counts the committed changes to the catalog the same way: every change adds one
    to a slot, so the sum is a version of the catalog that only grows, the same for every worker
    and replica (pages are cached under it, see :mod:`books_service.page_cache`)."""

    __tablename__ = "book_counts"

    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    live: Mapped[int] = mapped_column(Integer, server_default="0")
    changes: Mapped[int] = mapped_column(BigInteger, server_default="0")


class BookHistory(BooksBase):
    """Every create, update, delete and restore, written in the same transaction."""

    __tablename__ = "book_history"
    __table_args__ = (Index("ix_book_history_book_id", "book_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    changed_by: Mapped[str] = mapped_column(String(USERNAME_MAX))
    # {"field": {"from": old, "to": new}, ...}
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Where a change came from when not from a request: {"import": id, "file": name, "row": n}.
    origin: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# --- Imports (books_service.transfer) ------------------------------------------------------

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
FILENAME_MAX = 255
SOURCE_MAX = 32
SOURCE_ID_MAX = 200


class ImportJob(BooksBase):
    """One import: what was asked, how far it got, and which replica holds it (the lease)."""

    __tablename__ = "import_jobs"
    __table_args__ = (
        # The workers' poll: queued jobs, and running ones whose lease has expired.
        Index("ix_import_jobs_state", "state", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    format: Mapped[str] = mapped_column(String(32))
    encoding: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(FILENAME_MAX))
    on_duplicate: Mapped[str] = mapped_column(String(8))
    mapping: Mapped[dict[str, str] | None] = mapped_column(JSON)
    size_bytes: Mapped[int] = mapped_column(Integer)
    # The file's header row (CSV and TSV), for the rejects file.
    header: Mapped[list[str] | None] = mapped_column(JSON)
    rows_total: Mapped[int | None] = mapped_column(Integer)
    # Rows processed: the next row to process is rows_done + 1. Committed with each batch.
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    rate: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    preview: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(USERNAME_MAX))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The job left the listing indexes out while it ran (transfer/listing_indexes.py).
    indexes_deferred: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ImportChunk(BooksBase):
    """The uploaded file, in pieces of at most a mebibyte, read back in ``seq`` order."""

    __tablename__ = "import_chunks"

    job_id: Mapped[int] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ImportReject(BooksBase):
    """A row the import refused: the row as it was in the file (format-specific bytes) and why."""

    __tablename__ = "import_rejects"

    job_id: Mapped[int] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    row: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    original: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)


class BookSource(BooksBase):
    """Which record of which source system a book came from (a Goodreads Book Id, a Calibre
    uuid, an Estante id...): importing the same file again finds the book by it."""

    __tablename__ = "book_sources"
    __table_args__ = (Index("ix_book_sources_book_id", "book_id"),)

    source: Mapped[str] = mapped_column(String(SOURCE_MAX), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(SOURCE_ID_MAX), primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"))
