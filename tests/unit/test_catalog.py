"""The catalog's domain functions without HTTP or processes: a real SQLite file with the
migrations applied, and books written and read by calling :mod:`books_service.catalog`
directly, as a command or an importer would."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from books_service import catalog, counts, history, listing
from books_service.book_rules import Record, ValidationError, validate_book
from books_service.models import BookHistory
from common import migrations
from common.db import Database


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database at the head revision, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("catalog") / "books.db"
    migrations.upgrade("books", f"sqlite:///{path}")
    return path


@pytest.fixture
def db(migrated: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "books.db"
    shutil.copy(migrated, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


def book(**fields: Any) -> Record:
    return validate_book({"title": "Dom Casmurro", "author": "Machado de Assis", **fields})


def add(db: Database, record: Record, **options: Any) -> int:
    with db.transaction() as session:
        return catalog.add_book(session, record, by="ana", **options).id


def read(db: Database, book_id: int) -> dict[str, Any]:
    with db.read() as session:
        return dict(catalog.read_book(session, book_id))


def actions(db: Database, book_id: int) -> list[tuple[int, str, str]]:
    with db.read() as session:
        rows = session.execute(
            select(BookHistory.version, BookHistory.action, BookHistory.changed_by)
            .where(BookHistory.book_id == book_id)
            .order_by(BookHistory.id)
        ).all()
    return [tuple(row) for row in rows]


def live_count(db: Database) -> int:
    with db.read() as session:
        return counts.live_books(session)


def test_an_added_book_is_stored_whole_with_its_first_history_entry(db: Database) -> None:
    book_id = add(db, book(isbn="8535902775", subjects=["Romance"]))
    stored = read(db, book_id)
    assert stored["isbn"] == "9788535902778" and stored["authors"] == ["Machado de Assis"]
    assert stored["version"] == 1 and stored["created_by"] == stored["updated_by"] == "ana"
    assert actions(db, book_id) == [(1, "created", "ana")]
    with db.read() as session:
        entries, _, total = history.read(session, book_id, limit=10, cursor=None)
    assert total == 1 and entries[0]["changes"]["isbn"] == {"from": None, "to": "9788535902778"}
    assert live_count(db) == 1


def test_the_same_isbn_twice_is_a_duplicate_whatever_the_title(db: Database) -> None:
    first = add(db, book(isbn="978-85-359-0277-8"))
    with pytest.raises(catalog.DuplicateBook) as caught:
        add(db, book(title="Another", author="Else", isbn="8535902775"), allow_duplicate=True)
    assert caught.value.existing_id == first
    assert live_count(db) == 1  # the failed transaction left nothing behind


def test_the_same_title_and_authors_is_a_duplicate_unless_allowed(db: Database) -> None:
    first = add(db, book())
    with pytest.raises(catalog.DuplicateBook) as caught:
        add(db, book(title="dom  CASMURRO!", author="Machado de Assís"))
    assert caught.value.existing_id == first
    second = add(db, book(), allow_duplicate=True)
    assert second != first and live_count(db) == 2


def test_replacing_clears_what_was_left_out_and_records_the_difference(db: Database) -> None:
    book_id = add(db, book(publisher="Garnier", copies=3))
    with db.transaction() as session:
        catalog.replace_book(session, book_id, book(title="Dom Casmurro (2.ª ed.)"), by="rui")
    stored = read(db, book_id)
    assert stored["publisher"] is None and stored["copies"] == 1 and stored["version"] == 2
    with db.read() as session:
        entries, _, _ = history.read(session, book_id, limit=10, cursor=None)
    assert entries[1]["changes"] == {
        "title": {"from": "Dom Casmurro", "to": "Dom Casmurro (2.ª ed.)"},
        "publisher": {"from": "Garnier", "to": None},
        "copies": {"from": 3, "to": 1},
    }
    with db.transaction() as session:  # the same record again: no new version
        catalog.replace_book(session, book_id, book(title="Dom Casmurro (2.ª ed.)"), by="rui")
    assert read(db, book_id)["version"] == 2
    assert actions(db, book_id) == [(1, "created", "ana"), (2, "updated", "rui")]


def test_a_patch_changes_only_what_it_names_and_keeps_derived_fields_consistent(
    db: Database,
) -> None:
    book_id = add(db, book(published_date="1899", publisher="Garnier"))
    with db.transaction() as session:
        catalog.patch_book(
            session,
            book_id,
            {
                "authors": ["Machado de Assis", "Outro"],
                "published_date": "1900-01",
                "publisher": None,
            },
            by="rui",
        )
    stored = read(db, book_id)
    assert stored["author"] == "Machado de Assis; Outro"
    assert stored["published_year"] == 1900 and stored["publisher"] is None
    assert stored["title"] == "Dom Casmurro" and stored["version"] == 2


def test_a_patch_that_would_leave_an_invalid_book_changes_nothing(db: Database) -> None:
    book_id = add(db, book())
    with pytest.raises(ValidationError) as caught, db.transaction() as session:
        catalog.patch_book(session, book_id, {"language": "xx", "page_count": 0}, by="rui")
    assert {error["field"] for error in caught.value.errors} == {"language", "page_count"}
    assert read(db, book_id)["version"] == 1
    assert actions(db, book_id) == [(1, "created", "ana")]


def test_a_change_to_a_version_the_writer_did_not_read_is_refused(db: Database) -> None:
    book_id = add(db, book())
    with db.transaction() as session:
        catalog.patch_book(session, book_id, {"copies": 2}, by="ana", versions=lambda v: v == 1)
    with pytest.raises(catalog.VersionMismatch) as caught, db.transaction() as session:
        catalog.patch_book(session, book_id, {"copies": 5}, by="rui", versions=lambda v: v == 1)
    assert caught.value.version == 2 and caught.value.extra["current_version"] == 2
    with pytest.raises(catalog.VersionMismatch), db.transaction() as session:
        catalog.delete_book(session, book_id, by="rui", versions=lambda v: v == 1)
    assert read(db, book_id)["copies"] == 2


def test_a_deleted_book_disappears_and_comes_back_when_restored(db: Database) -> None:
    book_id = add(db, book())
    with db.transaction() as session:
        catalog.delete_book(session, book_id, by="rui")
    with pytest.raises(catalog.BookNotFound):
        read(db, book_id)
    with db.read() as session:
        assert catalog.read_deleted_book(session, book_id)["deleted_by"] == "rui"
        deleted = listing.list_deleted(session, limit=10, cursor=None)
    assert [b["id"] for b in deleted.books] == [book_id] and live_count(db) == 0
    with db.transaction() as session:
        catalog.restore_book(session, book_id, by="ana")
    assert read(db, book_id)["version"] == 3 and live_count(db) == 1
    assert [a for _, a, _ in actions(db, book_id)] == ["created", "deleted", "restored"]


def test_restoring_meets_the_rules_adding_would(db: Database) -> None:
    book_id = add(db, book(isbn="8535902775"))
    with db.transaction() as session:
        catalog.delete_book(session, book_id, by="rui")
    taken = add(db, book(title="Taken its ISBN", isbn="8535902775"))
    with pytest.raises(catalog.DuplicateBook) as caught, db.transaction() as session:
        catalog.restore_book(session, book_id, by="ana")
    assert caught.value.existing_id == taken


def test_purging_removes_a_deleted_book_and_its_history(db: Database) -> None:
    book_id = add(db, book())
    with pytest.raises(catalog.BookNotFound), db.transaction() as session:
        catalog.purge_book(session, book_id)  # a live book must be deleted first
    with db.transaction() as session:
        catalog.delete_book(session, book_id, by="rui")
    with db.transaction() as session:
        catalog.purge_book(session, book_id)
    with pytest.raises(catalog.BookNotFound), db.read() as session:
        catalog.read_deleted_book(session, book_id)
    assert actions(db, book_id) == []


@pytest.mark.parametrize("book_id", [0, -1, 2**31, 10**30])
def test_ids_that_cannot_exist_are_not_found(db: Database, book_id: int) -> None:
    with pytest.raises(catalog.BookNotFound), db.read() as session:
        catalog.read_book(session, book_id)
    with pytest.raises(catalog.BookNotFound), db.transaction() as session:
        catalog.patch_book(session, book_id, {"copies": 1}, by="rui")
