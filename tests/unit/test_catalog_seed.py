"""The benchmark's seeding takes shortcuts for speed (books made by SQL from pre-folded parts);
the books it makes must still be exactly what the service would have stored."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text

from bench.seed import seed
from books_service import counts, listing
from books_service.isbn import normalise
from books_service.models import Book, BookAuthor, BookSubject
from books_service.records import EDITABLE_FIELDS, author_keys, complete, derived_keys, subject_keys
from common.db import Database


def test_seeded_books_are_what_the_service_would_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'seeded.db'}"
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
            assert session.scalar(text("SELECT count(*) FROM books_fts")) == 500
    finally:
        database.dispose()
