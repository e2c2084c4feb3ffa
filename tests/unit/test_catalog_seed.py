"""The benchmark's seeding takes shortcuts for speed (books made by SQL from pre-folded parts);
the books it makes must still be exactly what the service would have stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bench import seed as seed_module
from bench.seed import seed
from books_service import counts, listing
from books_service.isbn import normalise
from books_service.models import Book, BookAuthor, BookSubject
from books_service.records import EDITABLE_FIELDS, author_keys, complete, derived_keys, subject_keys
from common.db import Database


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'seeded.db'}"
    else:  # loaded by two connections at once, its search vectors computed by the database
        yield request.getfixturevalue("postgres").create_database("seeded")


def test_seeded_books_are_what_the_service_would_store(url: str) -> None:
    seed(url, 300)
    seed(url, 200, seed_value=7)  # more books after the first ones
    database = Database(url)
    try:
        with database.read() as session:
            books = session.scalars(select(Book).order_by(Book.id)).all()
            assert [b.id for b in books] == list(range(1, 501))
            authors = {(a.book_id, a.name_key) for a in session.scalars(select(BookAuthor))}
            subjects = {(s.book_id, s.subject_key) for s in session.scalars(select(BookSubject))}
            for book in books:
                record = complete({name: getattr(book, name) for name in EDITABLE_FIELDS})
                stored = {key: getattr(book, key) for key in derived_keys(record)}
                assert stored == derived_keys(record), book.id
                assert {(book.id, k) for k in author_keys(record)} <= authors
                assert {(book.id, k) for k in subject_keys(record)} <= subjects
                if book.isbn:
                    assert normalise(book.isbn) == book.isbn
            assert len({b.duplicate_key for b in books}) == len(books)  # no two alike
            assert counts.live_books(session) == 500
            page = listing.list_books(
                session, listing.Filters(q=books[0].title), sort=None, limit=5, cursor=None
            )
            assert books[0].id in {b["id"] for b in page.books}
            if url.startswith("sqlite"):
                # The documents the search index itself holds (not its content table's rows).
                session.execute(
                    text(
                        "CREATE VIRTUAL TABLE temp.terms USING fts5vocab(main, books_fts, instance)"
                    )
                )
                indexed = "SELECT count(DISTINCT doc) FROM temp.terms"
            else:
                indexed = "SELECT count(*) FROM books WHERE search_vector IS NOT NULL"
            assert session.scalar(text(indexed)) == 500
    finally:
        database.dispose()


def test_a_failed_postgres_load_leaves_the_database_as_it_was(
    postgres: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's loaders run after the indexes are dropped and committed: a load that
    fails takes out what it added and puts every index and foreign key back."""
    url = postgres.create_database("seed_failure")
    seed(url, 100)
    database = Database(url)

    def state() -> tuple[Any, ...]:
        with database.read() as session:
            return (
                session.scalar(text("SELECT count(*) FROM books")),
                session.scalar(text("SELECT count(*) FROM book_authors")),
                counts.live_books(session),
                sorted(session.scalars(text("SELECT indexdef FROM pg_indexes"))),
                sorted(session.scalars(text("SELECT conname FROM pg_constraint"))),
            )

    try:
        before = state()
        real_load, calls = seed_module._load, []

        def load_then_fail(*args: Any) -> None:
            calls.append(args)
            real_load(*args)  # the half is loaded...
            if len(calls) == 2:
                raise RuntimeError("the machine went away")  # ...and its transaction rolls back

        monkeypatch.setattr(seed_module, "_load", load_then_fail)
        with pytest.raises(RuntimeError):
            seed(url, 1000)
        assert state() == before
    finally:
        database.dispose()
