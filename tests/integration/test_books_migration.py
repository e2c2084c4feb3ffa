"""The books database moves from the foundation schema (books_0001) to the catalog (books_0002)
keeping every book and every field, on SQLite and PostgreSQL; the migrated books behave like
books added through the service (keys, search, counts, history), and the downgrade works."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from books_service import catalog, counts, listing
from books_service.models import Book, BookAuthor, BookHistory
from books_service.records import author_keys, complete, derived_keys
from common import migrations
from common.clock import as_utc
from common.db import Database

CREATED = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
# What the foundation schema could hold: the widest and oddest of it.
OLD_BOOKS: list[dict[str, Any]] = [
    {"id": 1, "title": "Dom Casmurro", "author": "Machado de Assis", "created_by": "ana"},
    {
        "id": 2,
        "title": "O Pequeno Príncipe",
        "author": "Antoine de Saint-Exupéry",
        "created_by": "bia",
    },
    {
        "id": 7,
        "title": "Good Omens",
        "author": "Neil Gaiman & Terry Pratchett",
        "created_by": "caio",
    },
    {"id": 8, "title": "t" * 500, "author": "a" * 300, "created_by": "u" * 64},
    {
        "id": 9,
        "title": "星の王子さま 📚 — “quoted” 'single'",
        "author": "Søren; Łukasz",
        "created_by": "x.y-z_1",
    },
    {
        "id": 10,
        "title": "Dom Casmurro",
        "author": "Machado de Assis",
        "created_by": "ana",
    },  # a duplicate
]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'books.db'}"
    else:
        yield request.getfixturevalue("postgres").create_database("books_migration")


def fill_foundation(url: str) -> None:
    migrations.upgrade("books", url, "books_0001")
    database = Database(url)
    try:
        with database.engine.begin() as connection:
            for i, book in enumerate(OLD_BOOKS):
                created = CREATED + timedelta(days=i)
                # Book 2 was updated after it was added; the others never were.
                updated = created + timedelta(hours=5) if book["id"] == 2 else created
                connection.execute(
                    text(
                        "INSERT INTO books (id, title, author, created_at, updated_at, created_by) "
                        "VALUES (:id, :title, :author, :created, :updated, :created_by)"
                    ),
                    {**book, "created": created, "updated": updated},
                )
    finally:
        database.dispose()


def test_upgrading_keeps_every_book_and_field(database_url: str) -> None:
    fill_foundation(database_url)
    migrations.upgrade("books", database_url)
    assert migrations.current_revision("books", database_url) == "books_0002"
    database = Database(database_url)
    try:
        with database.read() as session:
            books = session.scalars(select(Book).order_by(Book.id)).all()
            assert [b.id for b in books] == [b["id"] for b in OLD_BOOKS]
            for i, (old, new) in enumerate(zip(OLD_BOOKS, books, strict=True)):
                created = CREATED + timedelta(days=i)
                assert (new.title, new.author, new.created_by) == (
                    old["title"],
                    old["author"],
                    old["created_by"],
                )
                assert as_utc(new.created_at) == created
                assert as_utc(new.updated_at) == (
                    created + timedelta(hours=5) if old["id"] == 2 else created
                )
                # Completed like a book added through the service.
                record = complete({"title": old["title"], "author": old["author"]})
                assert new.authors == record["authors"]
                assert new.subjects == [] and new.copies == 1 and new.version == 1
                assert new.isbn is None and new.deleted_at is None
                assert {k: getattr(new, k) for k in derived_keys(record)} == derived_keys(record)
                # Who changed book 2 before there was a history is not known.
                assert new.updated_by == (None if old["id"] == 2 else old["created_by"])
            assert books[2].authors == ["Neil Gaiman", "Terry Pratchett"]
            assert books[4].authors == ["Søren", "Łukasz"]

            names = {(a.book_id, a.name_key) for a in session.scalars(select(BookAuthor))}
            expected_names = {
                (b["id"], key)
                for b in OLD_BOOKS
                for key in author_keys(complete({"title": b["title"], "author": b["author"]}))
            }
            assert names == expected_names
            history = session.scalars(select(BookHistory).order_by(BookHistory.book_id)).all()
            assert [(h.book_id, h.version, h.action, h.changed_by) for h in history] == [
                (b["id"], 1, "created", b["created_by"]) for b in OLD_BOOKS
            ]
            assert history[0].changes["title"] == {"from": None, "to": "Dom Casmurro"}
            assert counts.live_books(session) == len(OLD_BOOKS)

            # The migrated books are found, filtered and sorted like any others.
            def ids(**filters: Any) -> list[int]:
                page = listing.list_books(
                    session, listing.Filters(**filters), sort=None, limit=50, cursor=None
                )
                return [b["id"] for b in page.books]

            assert ids(q="exupery") == [2]
            assert ids(q="pratchett") == [7]
            assert ids(q="星の王子さま") == [9]
            assert ids(author="terry pratchett") == [7]
            assert ids(author="machado de assis") == [1, 10]
        with database.transaction() as session:
            # New books come after the migrated ones (the id sequence survived).
            added = catalog.add_book(session, {"title": "Novo", "author": "Depois"}, by="migrator")
            assert added.id == 11
            with pytest.raises(catalog.DuplicateBook):
                catalog.add_book(
                    session, {"title": "Dom Casmurro", "author": "Machado de Assis"}, by="x"
                )
    finally:
        database.dispose()


def test_downgrading_returns_to_the_foundation_schema(database_url: str) -> None:
    fill_foundation(database_url)
    migrations.upgrade("books", database_url)
    database = Database(database_url)
    try:
        with database.transaction() as session:
            catalog.delete_book(session, 10, by="ana")  # deleted books cannot stay hidden there
    finally:
        database.dispose()
    migrations.downgrade("books", database_url, "books_0001")
    assert migrations.current_revision("books", database_url) == "books_0001"
    database = Database(database_url)
    try:
        with database.engine.connect() as connection:
            rows = connection.execute(text("SELECT id, title, author FROM books ORDER BY id")).all()
            tables = set(
                connection.execute(
                    text(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                        if database_url.startswith("sqlite")
                        else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    )
                ).scalars()
            )
    finally:
        database.dispose()
    assert [tuple(r) for r in rows] == [(b["id"], b["title"], b["author"]) for b in OLD_BOOKS[:-1]]
    assert not tables & {
        "book_history",
        "book_counts",
        "book_authors",
        "book_subjects",
        "books_fts",
    }
    # And up again: the books are completed once more.
    migrations.upgrade("books", database_url)
    database = Database(database_url)
    try:
        with database.read() as session:
            assert counts.live_books(session) == len(OLD_BOOKS) - 1
    finally:
        database.dispose()
