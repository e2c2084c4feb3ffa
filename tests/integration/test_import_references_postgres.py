"""On PostgreSQL an import writes its new books' author, subject, source and history rows without
the foreign keys' per-row checks (``bulk.insert_rows(..., new_books=...)``): the rows must be
exactly the ones the checks would have let in, the checks must be back for every later
statement of the same transaction, and a role that may not skip them gets them as before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import cast

import pytest
from psycopg.errors import ForeignKeyViolation
from sqlalchemy import Table, select, text

from books_service.isbn import isbn13_check_digit
from books_service.models import Book, BookHistory
from books_service.transfer import bulk, runner
from common.db import Database
from tests.support.databases import migrated
from tests.support.import_jobs import claimed_job
from tests.support.postgres import PostgresServer

HISTORY = cast(Table, BookHistory.__table__)
BOOKS = cast(Table, Book.__table__)
HISTORY_COLUMNS = ("book_id", "version", "action", "changed_at", "changed_by", "changes")
ROLE = "SELECT current_setting('session_replication_role')"


@pytest.fixture
def db(postgres: PostgresServer) -> Iterator[Database]:
    with migrated("books", postgres.create_database("imppg_refs")) as database:
        yield database


MOMENT = datetime(2026, 12, 3, tzinfo=UTC)


def _history_row(book_id: int) -> tuple[object, ...]:
    return (book_id, 1, "created", MOMENT, "ana", "{}")


def _book(session: object, book_id: int) -> None:
    columns = ("id", "title", "author", "created_at", "updated_at", "created_by")
    row = (book_id, "T", "A", MOMENT, MOMENT, "ana")
    bulk.insert_books(session, BOOKS, columns, [row], (book_id, book_id))  # type: ignore[arg-type]


def test_an_import_on_postgres_writes_every_reference_and_no_orphan(db: Database) -> None:
    rows = [
        f'{n},Grande Sertão {n},Guimarães Rosa,Ana Sá,"=""""",,ficção,read\n' for n in range(1, 8)
    ]
    job_id = claimed_job(db, rows)
    assert runner.run(db, job_id, runner.Tuning(batch_rows=3)) == "succeeded"
    with db.read() as session:
        counts = {
            table: session.scalar(text(f"SELECT count(*) FROM {table}"))
            for table in ("books", "book_authors", "book_subjects", "book_sources", "book_history")
        }
        assert counts == {
            "books": 7,
            "book_authors": 21,  # each name and the display string
            "book_subjects": 7,
            "book_sources": 7,
            "book_history": 7,
        }
        orphans = session.scalar(
            text(
                "SELECT count(*) FROM (SELECT book_id FROM book_authors UNION ALL "
                "SELECT book_id FROM book_subjects UNION ALL SELECT book_id FROM book_sources "
                "UNION ALL SELECT book_id FROM book_history) r "
                "WHERE NOT EXISTS (SELECT 1 FROM books b WHERE b.id = r.book_id)"
            )
        )
        assert orphans == 0
        origins = session.execute(
            text(
                "SELECT b.title, h.origin::text FROM book_history h "
                "JOIN books b ON b.id = h.book_id"
            )
        ).all()
        assert {title: origin for title, origin in origins}["Grande Sertão 5"] == (
            f'{{"import": {job_id}, "file": "library.csv", "row": 5}}'
        )
        found = session.scalars(
            text(
                "SELECT b.id FROM books b JOIN book_authors a ON a.book_id = b.id "
                "WHERE b.search_vector @@ 'sertao & 5'::tsquery AND a.name_key = 'ana sa'"
            )
        ).all()
        assert len(found) == 1
    # A book's purge still takes its rows with it (the keys' ON DELETE CASCADE is intact).
    with db.transaction() as session:
        session.execute(text("DELETE FROM books WHERE title = 'Grande Sertão 1'"))
        assert session.scalar(text("SELECT count(*) FROM book_authors")) == 18
        assert session.scalar(text("SELECT count(*) FROM book_history")) == 6


def test_the_same_file_again_finds_every_book_by_its_keys(db: Database) -> None:
    """The duplicates' lookups on PostgreSQL (one array parameter each: ``bulk.any_of``)."""
    isbns = [f"978000000{n:03d}" for n in range(1, 6)]
    isbns = [f"{isbn}{isbn13_check_digit(isbn)}" for isbn in isbns]
    rows = [f'{n},Livro {n},Ana Sá,,,"=""{isbns[n - 1]}""",,read\n' for n in range(1, 6)]
    rows += [f"{n},Sem ISBN {n},Rui Sá,,,,,read\n" for n in range(6, 9)]
    for expected_created in (8, 0):
        job_id = claimed_job(db, rows)
        assert runner.run(db, job_id, runner.Tuning(batch_rows=3)) == "succeeded"
        with db.read() as session:
            created, skipped = session.execute(
                text("SELECT created, skipped FROM import_jobs WHERE id = :id"), {"id": job_id}
            ).one()
        assert (created, skipped) == (expected_created, 8 - expected_created)
    with db.read() as session:
        assert session.scalar(text("SELECT count(*) FROM books")) == 8
    with db.transaction() as session:  # matched by ISBN and by title and authors, not by source
        session.execute(text("DELETE FROM book_sources"))
    job_id = claimed_job(db, rows)
    assert runner.run(db, job_id, runner.Tuning(batch_rows=3)) == "succeeded"
    with db.read() as session:
        assert session.scalar(text("SELECT count(*) FROM books")) == 8


def test_a_value_longer_than_its_column_finds_nothing(db: Database) -> None:
    with db.transaction() as session:
        _book(session, 1)
        session.execute(text("UPDATE books SET isbn = '9780000000019'"))
        query = bulk.any_of(
            select(BOOKS.c.isbn, BOOKS.c.id), BOOKS.c.isbn, ["9780000000019", "9780000000019X"], ()
        )
        assert session.execute(query).all() == [("9780000000019", 1)]
        query = bulk.any_of(select(BOOKS.c.isbn, BOOKS.c.id), BOOKS.c.isbn, ["9780000000019X"], ())
        assert session.execute(query).all() == []


def test_the_checks_are_back_for_the_rest_of_the_transaction(db: Database) -> None:
    refused = pytest.raises(ForeignKeyViolation, match="fk_book_history_book_id_books")
    with refused, db.transaction() as session:
        _book(session, 1)
        bulk.insert_rows(session, HISTORY, HISTORY_COLUMNS, [_history_row(1)], new_books={1})
        assert session.scalar(text(ROLE)) == "origin"
        # Book 2 does not exist: without new_books the server checks, and refuses.
        bulk.insert_rows(session, HISTORY, HISTORY_COLUMNS, [_history_row(2)])
    with db.read() as session:  # the failed transaction left nothing
        assert session.scalar(text("SELECT count(*) FROM books")) == 0
        assert session.scalar(text("SELECT count(*) FROM book_history")) == 0
        assert session.scalar(text(ROLE)) == "origin"


def test_rows_of_books_not_among_the_new_ones_are_refused_before_the_database(
    db: Database,
) -> None:
    with pytest.raises(ValueError, match=r"\[2\]"), db.transaction() as session:
        _book(session, 1)
        rows = [_history_row(1), _history_row(2)]
        bulk.insert_rows(session, HISTORY, HISTORY_COLUMNS, rows, new_books={1})
    with db.read() as session:
        assert session.scalar(text("SELECT count(*) FROM book_history")) == 0


def test_a_role_that_may_not_skip_the_checks_gets_them(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "_MAY_SKIP", {True: "false", False: "false"})
    # The caller's word that book 2 is new is not taken: the server's check runs and refuses.
    refused = pytest.raises(ForeignKeyViolation, match="fk_book_history_book_id_books")
    with refused, db.transaction() as session:
        _book(session, 1)
        rows = [_history_row(1), _history_row(2)]
        bulk.insert_rows(session, HISTORY, HISTORY_COLUMNS, rows, new_books={1, 2})
    with db.transaction() as session:
        _book(session, 1)
        bulk.insert_rows(session, HISTORY, HISTORY_COLUMNS, [_history_row(1)], new_books={1})
    with db.read() as session:
        assert session.scalar(text("SELECT count(*) FROM book_history")) == 1
