"""A service's database at a URL, migrated to head, for tests that call domain code directly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from books_service.models import BookAuthor, BookSubject
from common import migrations
from common.db import Database


@contextmanager
def migrated(service: str, url: str) -> Iterator[Database]:
    """``service``'s schema ("auth", "books") migrated at ``url``; the engine disposed after."""
    migrations.upgrade(service, url)
    database = Database(url)
    try:
        yield database
    finally:
        database.dispose()


def new_books_url(request: pytest.FixtureRequest, label: str) -> str:
    """A new, empty books database for a fixture parametrized "sqlite" / "postgres": a file in
    a fresh temporary folder, or a PostgreSQL database the ``postgres`` fixture drops after."""
    if request.param == "sqlite":
        folder = request.getfixturevalue("tmp_path_factory").mktemp(label)
        return f"sqlite:///{folder / 'books.db'}"
    return str(request.getfixturevalue("postgres").create_database(label))


def facet_rows(db: Database, book_id: int) -> tuple[list[str], list[str]]:
    """A book's author and subject keys as its facet rows hold them, each list sorted."""
    with db.read() as session:
        authors = session.scalars(
            select(BookAuthor.name_key).where(BookAuthor.book_id == book_id)
        ).all()
        subjects = session.scalars(
            select(BookSubject.subject_key).where(BookSubject.book_id == book_id)
        ).all()
    return sorted(authors), sorted(subjects)
