"""The Books Service's tables. Only this service reads or writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.clock import utcnow
from common.db import service_metadata

TITLE_MAX = 500
AUTHOR_MAX = 300
TEXT_MAX = 300
DESCRIPTION_MAX = 10_000
URL_MAX = 2000
SUBJECT_MAX = 100


class BooksBase(DeclarativeBase):
    metadata = service_metadata()


class Book(BooksBase):
    __tablename__ = "books"
    __table_args__ = (
        # One live book per ISBN; a deleted book keeps its ISBN without blocking a new record.
        Index(
            "uq_books_isbn_live",
            "isbn",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_books_title_key", "title_key", "id"),
        Index("ix_books_author_key", "author_key", "id"),
        Index("ix_books_published_year", "published_year", "id"),
        Index("ix_books_created_at", "created_at", "id"),
        Index("ix_books_updated_at", "updated_at", "id"),
        Index("ix_books_duplicate_key", "duplicate_key"),
        Index("ix_books_language", "language"),
        Index("ix_books_publisher_key", "publisher_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    subtitle: Mapped[str | None] = mapped_column(String(TITLE_MAX))
    # The spec's display string, and the ordered list of names it stands for.
    author: Mapped[str] = mapped_column(String(AUTHOR_MAX))
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    isbn: Mapped[str | None] = mapped_column(String(13))  # always the ISBN-13
    publisher: Mapped[str | None] = mapped_column(String(TEXT_MAX))
    published_year: Mapped[int | None] = mapped_column(Integer)
    published_date: Mapped[str | None] = mapped_column(String(10))  # YYYY, YYYY-MM, YYYY-MM-DD
    language: Mapped[str | None] = mapped_column(String(3))
    page_count: Mapped[int | None] = mapped_column(Integer)
    subjects: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str | None] = mapped_column(Text)
    cover_url: Mapped[str | None] = mapped_column(String(URL_MAX))
    series: Mapped[str | None] = mapped_column(String(TEXT_MAX))
    series_index: Mapped[float | None] = mapped_column(Float)
    copies: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    # Derived, for sorting, duplicates and search: folded (no accents, no case) forms.
    title_key: Mapped[str] = mapped_column(String(TITLE_MAX), default="", server_default="")
    author_key: Mapped[str] = mapped_column(String(AUTHOR_MAX), default="", server_default="")
    publisher_key: Mapped[str | None] = mapped_column(String(TEXT_MAX))
    duplicate_key: Mapped[str] = mapped_column(String(900), default="", server_default="")
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")

    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Usernames from the tokens of whoever added and last changed the book.
    created_by: Mapped[str] = mapped_column(String(64))
    updated_by: Mapped[str | None] = mapped_column(String(64))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[str | None] = mapped_column(String(64))


class BookSubject(BooksBase):
    """One row per (book, subject), so filtering by subject uses an index."""

    __tablename__ = "book_subjects"

    book_id: Mapped[int] = mapped_column(
        ForeignKey("books.id", ondelete="CASCADE"), primary_key=True
    )
    subject_key: Mapped[str] = mapped_column(String(SUBJECT_MAX), primary_key=True, index=True)


class BookHistory(BooksBase):
    """Every create, update, delete and restore, written in the same transaction."""

    __tablename__ = "book_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(64))
    # {"field": {"from": old, "to": new}, ...}
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
