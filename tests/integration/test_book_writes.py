"""A book's writes called as the routes call them (:func:`books_service.catalog.write_new_book`,
``replace_book``, ``patch_book``, ``delete_book``) and in a caller's transaction
(``insert_book``), on SQLite and PostgreSQL: everything a write brings is written with it, a
duplicate leaves nothing behind, and two writers of the same book at once add it once. On
PostgreSQL each write is one statement (:mod:`books_service.pg_writes`), with the title's lock
before it, and a request's new book is sent at once with them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from books_service import book_writes, catalog, counts
from books_service.book_rules import validate_book
from books_service.models import Book, BookAuthor, BookHistory, BookSubject
from books_service.records import author_keys
from common.db import Database
from tests.support.databases import facet_rows, migrated, new_books_url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    with migrated("books", new_books_url(request, "book_writes")) as database:
        yield database


def add(db: Database, *, allow_duplicate: bool = False, **fields: Any) -> int:
    new = catalog.new_book(validate_book(fields), by="ana", allow_duplicate=allow_duplicate)
    return book_writes.add(db, new).id


def tally(db: Database) -> dict[str, int]:
    """How many rows each table a new book writes holds, and the counts' two sums."""
    with db.read() as session:
        rows = {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Book, BookAuthor, BookSubject, BookHistory)
        }
        return {
            **rows,
            "live": counts.live_books(session),
            "changes": counts.catalog_version(session),
        }


def test_a_new_book_comes_with_its_author_and_subject_rows_its_count_and_its_history(
    db: Database,
) -> None:
    before = tally(db)
    fields = {
        "title": "Memórias Póstumas de Brás Cubas",
        "authors": ["Machado de Assis", "Brás Cubas"],
        "subjects": ["Romance", "Realismo"],
        "isbn": "9788535910667",
    }
    book_id = add(db, **fields)
    # Each name folded, and the whole author line (the ``author`` filter matches either).
    names = author_keys(validate_book(fields))
    assert {"machado de assis", "bras cubas"} < names
    authors, subjects = facet_rows(db, book_id)
    with db.read() as session:
        entry = session.execute(
            select(
                BookHistory.version,
                BookHistory.action,
                BookHistory.changed_by,
                BookHistory.changes,
                BookHistory.changed_at,
            ).where(BookHistory.book_id == book_id)
        ).one()
        stored = catalog.read_book(session, book_id)
    assert authors == sorted(names)
    assert subjects == ["realismo", "romance"]
    assert entry[:3] == (1, "created", "ana")
    assert entry.changes["isbn"] == {"from": None, "to": "9788535910667"}
    assert entry.changed_at == stored["created_at"]
    after = tally(db)
    assert {name: after[name] - before[name] for name in after} == {
        "books": 1,
        "book_authors": len(names),
        "book_subjects": 2,
        "book_history": 1,
        "live": 1,
        "changes": 1,
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            {"title": "O Cortiço", "author": "Aluísio Azevedo", "isbn": "9788508133000"},
            {"title": "Another title", "authors": ["Someone", "Else"], "isbn": "9788508133000"},
        ),
        (
            {"title": "Iracema", "author": "José de Alencar", "subjects": ["Indianismo"]},
            {"title": "IRACEMA!", "author": "Jose de Alencar", "subjects": ["Romance"]},
        ),
    ],
    ids=["isbn", "title and authors"],
)
def test_a_duplicate_leaves_nothing_behind_even_in_a_transaction_that_goes_on(
    db: Database, first: dict[str, Any], second: dict[str, Any]
) -> None:
    """The refused book's writes are not merely rolled back with the request: a caller that
    goes on with its transaction (a command adding many books) commits none of them."""
    existing = add(db, **first)
    before = tally(db)
    with db.transaction() as session, pytest.raises(catalog.DuplicateBook) as refused:
        catalog.add_book(session, validate_book(second), by="ana")
    assert refused.value.existing_id == existing
    assert tally(db) == before


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "Sonhos d'Ouro", "author": "José de Alencar", "isbn": "9788508040629"},
        {"title": "Encarnação", "author": "José de Alencar"},
    ],
    ids=["isbn", "title and authors"],
)
def test_a_duplicate_added_as_a_request_adds_it_names_the_book_and_writes_nothing(
    db: Database, fields: dict[str, Any]
) -> None:
    existing = add(db, **fields)
    before = tally(db)
    with pytest.raises(catalog.DuplicateBook) as refused:
        add(db, **fields)
    assert refused.value.existing_id == existing
    assert tally(db) == before


def test_a_duplicate_allowed_is_added_whole(db: Database) -> None:
    fields = {"title": "Senhora", "author": "José de Alencar", "subjects": ["Romance"]}
    first = add(db, **fields)
    before = tally(db)
    second = add(db, allow_duplicate=True, **fields)
    after = tally(db)
    assert second != first
    assert {name: after[name] - before[name] for name in after} == {
        "books": 1,
        "book_authors": 1,
        "book_subjects": 1,
        "book_history": 1,
        "live": 1,
        "changes": 1,
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "A Moreninha", "author": "Joaquim Manuel de Macedo"},
        {"title": "Lucíola", "author": "José de Alencar", "isbn": "9788572327091"},
    ],
    ids=["title and authors", "isbn"],
)
def test_two_writers_of_the_same_new_book_at_once_add_it_once(
    db: Database, fields: dict[str, Any]
) -> None:
    """The first writer holds its transaction open after adding the book; the second starts
    adding it meanwhile. On PostgreSQL the second must wait for the first's commit and then
    find its book (the title's lock is taken inside the statement, before its look at the
    catalog, which has a snapshot of its own; the ISBN's unique index waits by itself); on
    SQLite it waits at the write lock."""
    before = tally(db)
    first, second = while_another_writer_adds(db, fields, lambda: add(db, **fields))
    assert isinstance(second, catalog.DuplicateBook), second
    assert second.existing_id == first
    assert tally(db)["books"] == before["books"] + 1


def while_another_writer_adds(
    db: Database, fields: dict[str, Any], second_write: Callable[[], Any]
) -> tuple[int, Any]:
    """A first writer adds a book with ``fields`` and holds its transaction open while
    ``second_write`` starts; the second must still be waiting a second later. The first's book
    id, and what the second returned or the DuplicateBook it raised."""
    added = threading.Event()
    outcome: dict[str, Any] = {}

    def first_writer() -> None:
        new = catalog.new_book(validate_book(fields), by="ana")

        def work(connection: Connection) -> int:
            book_id = catalog.insert_book(connection, new).id
            added.set()
            second.join(timeout=1.0)  # still running: waiting for this transaction
            outcome["second waited"] = second.is_alive()
            return book_id

        outcome["first"] = db.write(work)

    def second_writer() -> None:
        added.wait(10)
        try:
            outcome["second"] = second_write()
        except catalog.DuplicateBook as error:
            outcome["second"] = error

    first = threading.Thread(target=first_writer)
    second = threading.Thread(target=second_writer)
    second.start()
    first.start()
    first.join(30)
    second.join(30)
    assert outcome["second waited"] is True
    return outcome["first"], outcome["second"]


def last_entry(db: Database, book_id: int) -> Any:
    with db.read() as session:
        return session.execute(
            select(
                BookHistory.version,
                BookHistory.action,
                BookHistory.changed_by,
                BookHistory.changes,
            )
            .where(BookHistory.book_id == book_id)
            .order_by(BookHistory.id.desc())
            .limit(1)
        ).one()


def test_a_replacement_rewrites_the_facet_rows_that_differ_and_counts_one_change(
    db: Database,
) -> None:
    book_id = add(
        db, title="Quincas Borba", authors=["Machado de Assis", "Rubião"], subjects=["Romance"]
    )
    before = tally(db)
    replacement = {
        "title": "Quincas Borba",
        "authors": ["Machado de Assis", "Sofia"],
        "subjects": ["Realismo", "Sátira"],
    }
    replaced = book_writes.replace(
        db, book_id, validate_book(replacement), by="rui", versions=None, allow_duplicate=False
    )
    assert replaced.version == 2 and replaced["authors"] == ["Machado de Assis", "Sofia"]
    authors, subjects = facet_rows(db, book_id)
    assert authors == sorted(author_keys(validate_book(replacement)))
    assert subjects == ["realismo", "satira"]
    version, action, by, changes = last_entry(db, book_id)
    assert (version, action, by) == (2, "updated", "rui")
    assert changes["subjects"] == {"from": ["Romance"], "to": ["Realismo", "Sátira"]}
    after = tally(db)
    assert after["live"] == before["live"] and after["changes"] == before["changes"] + 1
    assert after["book_history"] == before["book_history"] + 1


def test_a_patch_of_one_field_leaves_the_facet_rows_and_records_one_change(db: Database) -> None:
    book_id = add(db, title="Helena", author="Machado de Assis", subjects=["Romance"])
    facets = facet_rows(db, book_id)
    patched = book_writes.patch(
        db, book_id, {"copies": 3}, by="rui", versions=None, allow_duplicate=False
    )
    with db.read() as session:
        stored = catalog.read_book(session, book_id)
    assert stored["copies"] == 3 and stored["version"] == 2 and stored["updated_by"] == "rui"
    # What the write answers is what a read finds (but SQLite's times, read back naive).
    assert {name: patched[name] for name in stored if name != "updated_at"} == {
        name: value for name, value in stored.items() if name != "updated_at"
    }
    assert facet_rows(db, book_id) == facets
    assert last_entry(db, book_id)[:3] == (2, "updated", "rui")


def test_a_change_to_a_duplicate_leaves_nothing_behind_even_in_a_transaction_that_goes_on(
    db: Database,
) -> None:
    holder = add(db, title="Ubirajara", author="José de Alencar", isbn="9788572326988")
    book_id = add(db, title="O Guarani", author="José de Alencar", subjects=["Indianismo"])
    before, facets = tally(db), facet_rows(db, book_id)
    taken = {"title": "O Guarani", "author": "Alencar", "isbn": "9788572326988"}
    with db.transaction() as session, pytest.raises(catalog.DuplicateBook) as refused:
        catalog.replace_book(session, book_id, validate_book(taken), by="rui")
    assert refused.value.existing_id == holder
    assert tally(db) == before and facet_rows(db, book_id) == facets
    with db.read() as session:
        assert catalog.read_book(session, book_id)["version"] == 1


def test_a_deletion_counts_one_book_fewer_and_one_change(db: Database) -> None:
    book_id = add(db, title="Til", author="José de Alencar")
    before = tally(db)
    book_writes.delete(db, book_id, by="rui", versions=None)
    after = tally(db)
    assert after["live"] == before["live"] - 1 and after["changes"] == before["changes"] + 1
    assert last_entry(db, book_id) == (2, "deleted", "rui", {})
    with db.read() as session, pytest.raises(catalog.BookNotFound):
        catalog.read_book(session, book_id)


def test_a_change_to_a_duplicate_as_a_request_makes_it_names_the_book_and_writes_nothing(
    db: Database,
) -> None:
    holder = add(db, title="Diva", author="José de Alencar", isbn="9788508040612")
    book_id = add(db, title="Lucíola", author="Alencar", subjects=["Perfil"])
    before, facets = tally(db), facet_rows(db, book_id)
    by_isbn = {"title": "Lucíola", "author": "Alencar", "isbn": "9788508040612"}
    with pytest.raises(catalog.DuplicateBook) as refused:
        book_writes.replace(
            db, book_id, validate_book(by_isbn), by="rui", versions=None, allow_duplicate=False
        )
    assert refused.value.existing_id == holder
    with pytest.raises(catalog.DuplicateBook) as refused:
        book_writes.patch(
            db,
            book_id,
            {"title": "DIVA", "author": "José de Alencar"},
            by="rui",
            versions=None,
            allow_duplicate=False,
        )
    assert refused.value.existing_id == holder
    assert tally(db) == before and facet_rows(db, book_id) == facets
    with db.read() as session:
        assert catalog.read_book(session, book_id)["version"] == 1


def test_a_change_that_changes_nothing_makes_no_new_version(db: Database) -> None:
    book_id = add(db, title="Cinco Minutos", author="José de Alencar", copies=2)
    before = tally(db)
    same = book_writes.patch(
        db, book_id, {"copies": 2}, by="rui", versions=None, allow_duplicate=False
    )
    assert same.version == 1 and same["updated_by"] == "ana"
    assert tally(db) == before


def test_a_missing_book_or_a_version_not_accepted_changes_nothing(db: Database) -> None:
    book_id = add(db, title="A Viuvinha", author="José de Alencar")
    before = tally(db)
    stale = {"title": "A Viuvinha", "author": "J. de Alencar"}
    with pytest.raises(catalog.VersionMismatch):
        book_writes.replace(
            db,
            book_id,
            validate_book(stale),
            by="rui",
            versions=lambda v: v == 7,
            allow_duplicate=False,
        )
    with pytest.raises(catalog.VersionMismatch):
        book_writes.delete(db, book_id, by="rui", versions=lambda v: v == 7)
    for missing in (book_id + 1000, 2**40):
        with pytest.raises(catalog.BookNotFound):
            book_writes.patch(
                db, missing, {"copies": 2}, by="rui", versions=None, allow_duplicate=False
            )
        with pytest.raises(catalog.BookNotFound):
            book_writes.delete(db, missing, by="rui", versions=None)
    assert tally(db) == before
    # and the connections these left in the pool write as before
    assert book_writes.delete(db, book_id, by="rui", versions=lambda v: v == 1) is None
    assert tally(db)["live"] == before["live"] - 1


def test_an_isbn_another_writer_is_adding_meanwhile_is_refused_to_a_change_as_a_duplicate(
    db: Database,
) -> None:
    """The first writer holds its transaction open after adding a book with the ISBN; the
    second gives another book that ISBN meanwhile. It must wait for the first's commit and
    answer a 409 naming that book (on PostgreSQL the live-ISBN unique index makes it wait and
    then fail; on SQLite it waits at the write lock and its check finds the book)."""
    isbn = "9788572326971"
    book_id = add(db, title="As Minas de Prata", author="José de Alencar")
    change = {"title": "As Minas de Prata", "author": "José de Alencar", "isbn": isbn}
    before = tally(db)
    holder, second = while_another_writer_adds(
        db,
        {"title": "O Sertanejo", "author": "Alencar", "isbn": isbn},
        lambda: book_writes.replace(
            db, book_id, validate_book(change), by="rui", versions=None, allow_duplicate=False
        ),
    )
    assert isinstance(second, catalog.DuplicateBook), second
    assert second.existing_id == holder
    assert tally(db)["changes"] == before["changes"] + 1  # the first's book, and nothing else
    with db.read() as session:
        assert catalog.read_book(session, book_id)["isbn"] is None


def test_a_title_another_writer_is_adding_meanwhile_is_refused_to_a_change_as_a_duplicate(
    db: Database,
) -> None:
    """As with an ISBN, for a title and authors: on PostgreSQL the change's statement takes the
    title's lock inside it (``estante_title_free`` with the book itself left out), so it waits
    for the first writer's commit and then finds its book."""
    book_id = add(db, title="Til", author="José de Alencar")
    change = {"title": "O Tronco do Ipê", "author": "José de Alencar"}
    before = tally(db)
    holder, second = while_another_writer_adds(
        db,
        change,
        lambda: book_writes.replace(
            db, book_id, validate_book(change), by="rui", versions=None, allow_duplicate=False
        ),
    )
    assert isinstance(second, catalog.DuplicateBook), second
    assert second.existing_id == holder
    assert tally(db)["changes"] == before["changes"] + 1
    with db.read() as session:
        assert catalog.read_book(session, book_id)["title"] == "Til"


def postgresql_only(db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("on SQLite a change holds the write lock from its read to its write")


def changed_meanwhile(
    monkeypatch: pytest.MonkeyPatch, other_write: Callable[[], object]
) -> list[Any]:
    """``other_write`` made once, by another connection, after the next change has read its
    book and before it writes; every change worked out from then on (the other's first)."""
    planned: list[Any] = []
    plan_change = catalog.plan_change
    other: list[Callable[[], object]] = [other_write]

    def planning(*args: Any, **kwargs: Any) -> Any:
        if other:
            other.pop()()
        change = plan_change(*args, **kwargs)
        planned.append(change)
        return change

    monkeypatch.setattr(catalog, "plan_change", planning)
    return planned


def test_a_change_made_meanwhile_is_kept_and_the_change_is_made_on_top_of_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL reads the book without a lock and writes only if it is still at that
    version; when another writer got there first, the change is worked out again from the
    book under its lock, so the other writer's change is kept."""
    postgresql_only(db)
    book_id = add(
        db, title="Ubirajara (ed. ilustrada)", author="José de Alencar", subjects=["Romance"]
    )
    planned = changed_meanwhile(
        monkeypatch,
        lambda: book_writes.patch(
            db,
            book_id,
            {"subjects": ["Urbano"], "series": "Perfis de Mulher"},
            by="ana",
            versions=None,
            allow_duplicate=False,
        ),
    )
    changed = book_writes.patch(
        db, book_id, {"page_count": 180}, by="rui", versions=None, allow_duplicate=False
    )
    # the other writer's, then ours twice: worked out again under the lock
    assert [change.sets["updated_by"] for change in planned] == ["ana", "rui", "rui"]
    assert changed.version == 3
    with db.read() as session:
        stored = catalog.read_book(session, book_id)
    assert stored["subjects"] == ["Urbano"] and stored["series"] == "Perfis de Mulher"
    assert stored["page_count"] == 180 and stored["version"] == 3
    assert facet_rows(db, book_id)[1] == ["urbano"]
    entry = last_entry(db, book_id)
    assert (entry.version, entry.changed_by) == (3, "rui")
    assert entry.changes == {"page_count": {"from": None, "to": 180}}


def test_a_change_whose_book_moved_on_or_went_meanwhile_is_refused(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgresql_only(db)
    book_id = add(db, title="Alfarrábios", author="José de Alencar")
    changed_meanwhile(
        monkeypatch,
        lambda: book_writes.patch(
            db, book_id, {"copies": 3}, by="ana", versions=None, allow_duplicate=False
        ),
    )
    with pytest.raises(catalog.VersionMismatch) as stale:
        book_writes.patch(
            db, book_id, {"copies": 5}, by="rui", versions=lambda v: v == 1, allow_duplicate=False
        )
    assert stale.value.version == 2
    monkeypatch.undo()
    changed_meanwhile(monkeypatch, lambda: book_writes.delete(db, book_id, by="ana", versions=None))
    with pytest.raises(catalog.BookNotFound):
        book_writes.replace(
            db,
            book_id,
            validate_book({"title": "Alfarrábios", "author": "Alencar"}),
            by="rui",
            versions=None,
            allow_duplicate=False,
        )
    with db.read() as session:
        gone = catalog.read_deleted_book(session, book_id)
    assert gone["copies"] == 3 and gone["author"] == "José de Alencar" and gone["version"] == 3


def test_a_change_nobody_else_makes_is_a_read_and_one_statement(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever it checks (a new title, a new ISBN, the book's own title once its ISBN goes,
    no check), a change with no other writer is never worked out again under the lock."""
    postgresql_only(db)

    def locked(*args: object) -> None:
        raise AssertionError("worked out again under the lock")

    monkeypatch.setattr(book_writes, "_locked_change", locked)
    book_id = add(db, title="A Pata da Gazela", author="José de Alencar", subjects=["Romance"])
    changes: list[dict[str, Any]] = [
        {"title": "A Pata da Gazela (1870)"},
        {"isbn": "9788572326995"},
        {"isbn": None},
        {"subjects": ["Urbano", "Romance"], "authors": ["José de Alencar", "Sênio"]},
        {"page_count": 312},
    ]
    for n, patch in enumerate(changes, start=2):
        changed = book_writes.patch(
            db, book_id, patch, by="rui", versions=lambda v, n=n: v == n - 1, allow_duplicate=False
        )
        assert changed.version == n
    with db.read() as session:
        stored = catalog.read_book(session, book_id)
    assert stored["isbn"] is None and stored["authors"] == ["José de Alencar", "Sênio"]
    assert facet_rows(db, book_id)[1] == ["romance", "urbano"]
