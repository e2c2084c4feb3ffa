"""The catalog's statements of one book, built once: the read of a stored book (locked or not),
adding it with its duplicate check, changing it (its UPDATE, with the check as a condition, and
on PostgreSQL only at the version read), a title's advisory lock, and its author and subject
rows. The hot writes (add, replace, patch, delete) run SQLAlchemy Core statements on a Core
connection (the one ``Database.write`` gives, or a session's): the unit of work's bookkeeping for
objects nobody reads again cost more than the statements, and on SQLite all of it ran while the
write lock was held. :mod:`books_service.catalog` decides which to run; PostgreSQL's writes in one
statement are built by :mod:`books_service.pg_writes` from the UPDATEs here.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import BigInteger, Table, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from books_service import pg_writes
from books_service.models import Book, BookAuthor, BookSubject
from books_service.records import DERIVED_FIELDS
from books_service.representation import COLUMNS, DELETED_COLUMNS
from common.prepared import Prepared

_books = cast(Table, Book.__table__)
_b = _books.c
# What a write reads of the book it changes: its JSON columns, and the derived keys (to SET only
# the columns that change: SQLite's search index is rewritten whenever its columns are SET).
_LOCK_COLUMNS = (*COLUMNS, *DELETED_COLUMNS, *(_b[name] for name in DERIVED_FIELDS))

_SELECT_STORED_BOOK = select(*_LOCK_COLUMNS).where(_b.id == bindparam("b_id"))
SELECT_STORED = Prepared(_SELECT_STORED_BOOK)
SELECT_LOCKED = Prepared(_SELECT_STORED_BOOK.with_for_update())
_LIVE_OTHER = (_b.deleted_at.is_(None), _b.id != bindparam("b_id"))
_ISBN_FREE = ~exists().where(_b.isbn == bindparam("b_isbn"), *_LIVE_OTHER)
_TITLE_FREE = ~exists().where(_b.duplicate_key == bindparam("b_duplicate_key"), *_LIVE_OTHER)
# Adding: the row and its duplicate check in one statement; no row back means a live book has
# the ISBN (the unique index, race-free on PostgreSQL too) or the title and authors.
INSERT = Prepared(insert(_books).returning(_b.id))
# (SQLite's; PostgreSQL adds a book in one statement, see books_service.pg_writes.)
INSERT_NEW_ISBN = Prepared(
    sqlite_insert(_books)
    .on_conflict_do_nothing(index_elements=[_b.isbn], index_where=_b.deleted_at.is_(None))
    .returning(_b.id)
)
# Changing: the book's UPDATE with the check as its condition; no row changed means a duplicate.
UPDATE_BOOK = update(_books).where(_b.id == bindparam("b_id"))
UPDATES = {
    "none": UPDATE_BOOK,
    "isbn": UPDATE_BOOK.where(_ISBN_FREE),
    "title": UPDATE_BOOK.where(_TITLE_FREE),
}
# PostgreSQL: the same, only if the book is still at the version the change was worked out
# from, the title's lock taken inside (pg_writes.title_free): the change's one statement alone.
_AT_VERSION = UPDATE_BOOK.where(_b.version == bindparam("b_version"))
UPDATES_AT_VERSION = {
    "none": _AT_VERSION,
    "isbn": _AT_VERSION.where(_ISBN_FREE),
    "title": _AT_VERSION.where(
        pg_writes.title_free(bindparam("b_duplicate_key"), bindparam("b_id", type_=BigInteger))
    ),
}
UPDATE = Prepared(UPDATE_BOOK)
UPDATE_IF = {check: Prepared(UPDATES[check]) for check in ("isbn", "title")}


def insert_new_title(written: tuple[str, ...]) -> Prepared:
    """SQLite: ``INSERT ... SELECT <values> WHERE NOT EXISTS (a live book with the title and
    authors)``, one statement per set of columns written (they are few: built once each)."""
    statement = _NEW_TITLE.get(written)
    if statement is None:
        values = select(*(bindparam(f"v_{name}", type_=_b[name].type) for name in written))
        free = ~exists().where(
            _b.duplicate_key == bindparam("b_duplicate_key"), _b.deleted_at.is_(None)
        )
        statement = Prepared(
            insert(_books).from_select(list(written), values.where(free)).returning(_b.id)
        )
        _NEW_TITLE[written] = statement
    return statement


_NEW_TITLE: dict[tuple[str, ...], Prepared] = {}

ADVISORY_LOCK = Prepared(select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger))))


def _facet_statements(table: Table, column: str) -> tuple[Prepared, Prepared]:
    """Adding and removing one row of a book's facet table (authors or subjects)."""
    one = (table.c.book_id == bindparam("book_id"), table.c[column] == bindparam(column))
    return Prepared(insert(table)), Prepared(delete(table).where(*one))


_authors = cast(Table, BookAuthor.__table__)
_subjects = cast(Table, BookSubject.__table__)
AUTHOR_ROWS = _facet_statements(_authors, "name_key")
SUBJECT_ROWS = _facet_statements(_subjects, "subject_key")
