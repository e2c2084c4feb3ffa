"""A request's write of one book, in a transaction of its own: adding, replacing, patching and
deleting, as the routes (and the writes served in front of Flask) call them. The rules are
:mod:`books_service.catalog`'s; what is here is how the transaction runs.

On SQLite it is :meth:`common.db.Database.write`: the write gate and the group commit, the
catalog's functions called in the transaction as they are.

On PostgreSQL each statement is a round trip to the server, and most of what a write waited
for (issue 12). A write is as few of them as it can be:

* adding a book: its one statement (:mod:`books_service.pg_writes`, which takes a new
  title's lock itself) alone is the transaction (autocommit, :meth:`Database.alone`), without
  ``BEGIN`` or ``COMMIT``: one round trip; the books other threads of the process add while
  it is on its way are added by the next statement together (:mod:`books_service.pg_adds`);
* a change: the book read (in autocommit, no lock), one round trip; the change worked out from
  that row, then its one statement alone, which writes it only if the book is still at the
  version read and takes a title's lock itself, another (:meth:`Database.each_alone`). When it
  writes nothing (the book changed meanwhile, or the change is a duplicate), the change is
  worked out again under the book's row lock, in a transaction whose statements are sent at
  once (:meth:`Database.at_once`): ``BEGIN`` with the read that locks the row, then the
  title's lock, the statement and ``COMMIT``;
* a deletion: that transaction.

A duplicate is found by the statement itself, which then writes nothing (every other write in it
hangs off the book's row), so the transaction commits nothing and the book it duplicates is read
afterwards, for the 409 to name it.

Deciding a stale ``If-Match`` (412), a missing book (404) or a change that changes nothing from
a read without a lock answers as of that read: a moment within the request, as a locked read
would have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from books_service import catalog, pg_adds
from books_service.book_rules import Record
from books_service.catalog import BookValues, MakeRecord, NewBook, PlannedChange, Versions
from common.at_once import AtOnce
from common.db import Database, connection_of


def add(db: Database, new: NewBook) -> BookValues:
    """Add a book worked out by :func:`catalog.new_book` (:func:`catalog.insert_book`)."""
    if not _at_once(db):
        return db.write(lambda connection: catalog.insert_book(connection, new))
    return pg_adds.add(db, new)


def replace(
    db: Database,
    book_id: int,
    record: Record,
    *,
    by: str,
    versions: Versions | None,
    allow_duplicate: bool,
) -> BookValues:
    """PUT (:func:`catalog.replace_book`)."""
    return _change(db, book_id, _Asked(lambda _: record, by, versions, allow_duplicate))


def patch(
    db: Database,
    book_id: int,
    patch: Mapping[str, Any],
    *,
    by: str,
    versions: Versions | None,
    allow_duplicate: bool,
) -> BookValues:
    """PATCH, a JSON merge patch (:func:`catalog.patch_book`)."""
    patched = _Asked(
        lambda stored: catalog.patched_record(stored, patch), by, versions, allow_duplicate
    )
    return _change(db, book_id, patched)


def delete(db: Database, book_id: int, *, by: str, versions: Versions | None) -> None:
    """DELETE, a soft delete (:func:`catalog.delete_book`)."""
    if not _at_once(db):
        db.write(
            lambda connection: catalog.delete_book(connection, book_id, by=by, versions=versions)
        )
        return
    with db.at_once() as statements:
        stored = _locked(statements, book_id)
        catalog.check_version(stored, versions)
        statements.queue(*catalog.deletion_step(stored, by=by))


def _at_once(db: Database) -> bool:
    return db.engine.dialect.name == "postgresql"


def _locked(statements: AtOnce, book_id: int) -> dict[str, Any]:
    """The book's columns, its row locked (BookNotFound for none, or one deleted)."""
    read = catalog.read_locked(book_id)
    return catalog.stored_book(None if read is None else statements.first(*read), book_id)


@dataclass(frozen=True)
class _Asked:
    """What a writer asks of a change: the record it makes of the stored book, as whom, the
    versions it accepts, and whether a duplicate title is allowed."""

    make_record: MakeRecord
    by: str
    versions: Versions | None
    allow_duplicate: bool

    def plan(self, stored: dict[str, Any]) -> PlannedChange | None:
        """The change of the book as read, once its version is accepted (412 if not); None
        when it changes nothing."""
        catalog.check_version(stored, self.versions)
        return catalog.plan_change(
            stored, self.make_record(stored), by=self.by, allow_duplicate=self.allow_duplicate
        )


def _change(db: Database, book_id: int, asked: _Asked) -> BookValues:
    """:func:`catalog.change_book` in a transaction of its own."""
    if not _at_once(db):
        return db.write(
            lambda connection: catalog.change_book(
                connection,
                book_id,
                asked.make_record,
                by=asked.by,
                versions=asked.versions,
                allow_duplicate=asked.allow_duplicate,
            )
        )
    with db.each_alone() as run:
        read = catalog.read_stored(book_id)
        stored = catalog.stored_book(None if read is None else run(*read), book_id)
        change = asked.plan(stored)
        if change is None:  # nothing changes: no new version, no history entry
            return BookValues(stored)
        try:
            written = run(*change.at_version())
        except IntegrityError:  # a concurrent book took the ISBN: decided under the lock
            written = None
    if written is not None:
        return change.values()
    # Changed since it was read, or a duplicate: worked out again under the book's lock.
    return _locked_change(db, book_id, asked)


def _locked_change(db: Database, book_id: int, asked: _Asked) -> BookValues:
    """PostgreSQL: a change worked out from the book read under its row's lock."""
    change: PlannedChange | None = None
    try:
        with db.at_once() as statements:
            stored = _locked(statements, book_id)
            change = asked.plan(stored)
            if change is None:  # nothing changes: no new version, no history entry
                return BookValues(stored)
            sent = [statements.queue(statement, params) for statement, params in change.steps()]
    except IntegrityError:
        # A concurrent book that took the same ISBN and committed first is caught by the
        # unique index of live ISBNs: a 409 like any other duplicate, not a 500.
        if change is None or change.check != "isbn":
            raise
        sent = []
    if not sent or sent[-1].fetchone() is None:
        assert change is not None
        with db.read() as session:
            raise change.duplicate(connection_of(session))
    return change.values()
