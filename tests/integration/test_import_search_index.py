"""On SQLite an import indexes each batch's new books for search in one statement, with the
search trigger set aside in the batch's transaction: the index must hold exactly what the
trigger would have put there, and the trigger must be back as it was after every batch, after
a batch that fails too, so books written later are still found."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Table, text

from books_service.models import Book
from books_service.transfer import bulk, runner
from common.db import Database
from tests.support.import_jobs import claimed_job, migrated_catalog

CHECK = "integrity-check"
TRIGGER = "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'books_fts_insert'"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return migrated_catalog(tmp_path)


def _import(db: Database, rows: list[str], batch_rows: int = 3) -> str:
    job_id = claimed_job(db, rows)
    return runner.run(db, job_id, runner.Tuning(batch_rows=batch_rows))


def _found(db: Database, words: str) -> list[int]:
    with db.read() as session:
        query = text("SELECT rowid FROM books_fts WHERE books_fts MATCH :q ORDER BY rowid")
        return list(session.scalars(query, {"q": words}))


def _index_matches_the_books(db: Database) -> None:
    with db.transaction() as session:  # FTS5 compares its index with the books table's rows
        session.execute(
            text("INSERT INTO books_fts (books_fts, rank) VALUES ('integrity-check', 1)")
        )


def test_imported_books_are_indexed_as_the_trigger_would_and_the_trigger_comes_back(
    db: Database,
) -> None:
    with db.read() as session:
        trigger = session.scalar(text(TRIGGER))
    rows = [f'{n},Grande Sertão {n},Guimarães Rosa,Ana Sá,"=""""",,ficção,read\n' for n in range(7)]
    assert _import(db, rows) == "succeeded"
    assert _found(db, "sertao") == list(range(1, 8))
    assert _found(db, "guimaraes AND sa") == list(range(1, 8))
    _index_matches_the_books(db)
    with db.transaction() as session:
        assert session.scalar(text(TRIGGER)) == trigger
        session.execute(
            text(
                "INSERT INTO books (title, author, title_key, author_key, search_text, "
                "created_at, updated_at, created_by) VALUES ('Veredas', 'X', 'veredas', 'x', "
                "'', '2026-01-01 00:00:00', '2026-01-01 00:00:00', 'ana')"
            )
        )
    assert _found(db, "veredas") == [8]
    _index_matches_the_books(db)


def test_a_batch_that_fails_leaves_the_trigger_and_the_index_as_they_were(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _import(db, ['1,Primeiro,Ana,,"=""""",,,read\n']) == "succeeded"
    with db.read() as session:
        trigger = session.scalar(text(TRIGGER))

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(bulk, "insert_rows", fail)
    with pytest.raises(RuntimeError), db.transaction() as session:
        session.execute(text("SELECT 1"))
        bulk.insert_books(session, cast(Table, Book.__table__), ("id",), [(99,)], (99, 99))
    with db.read() as session:
        assert session.scalar(text(TRIGGER)) == trigger
    assert _found(db, "primeiro") == [1]
    _index_matches_the_books(db)
