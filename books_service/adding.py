"""Adding a book on PostgreSQL in one statement: its row with the duplicate check, its author
and subject rows, the count and the history entry.

On SQLite a statement is a call into the library; on PostgreSQL it is a round trip to the
server, and the five statements of :func:`books_service.catalog.insert_book` (seven with the
author and subject rows and the title's lock) were most of what a ``POST /books`` waited for
and much of the client's CPU (issue 12). Here they are one ``INSERT ... RETURNING`` whose
other writes hang off it as data-modifying CTEs::

    WITH book AS (INSERT INTO books ... RETURNING books.id),
         authors AS (INSERT INTO book_authors SELECT book.id, unnest(:authors) FROM book),
         subjects AS (INSERT INTO book_subjects SELECT book.id, unnest(:subjects) FROM book),
         counted AS (UPDATE book_counts SET ... WHERE slot = :slot AND EXISTS (SELECT FROM book)),
         history AS (INSERT INTO book_history SELECT book.id, 1, 'created', ... FROM book)
    SELECT book.id FROM book

Every other write reads ``book``, so a book that the duplicate check keeps out (no row back)
leaves nothing behind: no author rows, no count, no history. The statement is one unit for
the foreign keys, which PostgreSQL checks at its end, when the book's row is there.

What stays a statement of its own is the advisory lock on a new title
(:func:`books_service.catalog.lock_title`): a statement reads the catalog as it was when it
started, so the lock must be held before the statement that looks for the title begins, or
two writers of the same title would both find it free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, exists, func, insert, literal_column, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.sql.expression import ColumnClause

from books_service import counts
from books_service.models import Book, BookAuthor, BookCount, BookHistory, BookSubject
from common.prepared import Prepared

# How a book's row is kept from duplicating a live one: by the live-ISBN unique index, by no
# live book with its duplicate key (its title and authors, under the caller's lock), or not.
Check = Literal["isbn", "title", "none"]

_books = cast(Table, Book.__table__)
_b = _books.c
_counts = cast(Table, BookCount.__table__)
_history = cast(Table, BookHistory.__table__)
# Constants written into the SQL (an anonymous parameter would be one the caller must name).
_ONE: ColumnClause[Any] = literal_column("1")
_STATEMENTS: dict[tuple[Check, tuple[str, ...]], Prepared] = {}


def statement(check: Check, columns: tuple[str, ...]) -> Prepared:
    """The statement adding a book whose row gives ``columns``, its duplicate check ``check``
    (built once for each: a writer gives the same columns every time)."""
    found = _STATEMENTS.get((check, columns))
    if found is None:
        found = _STATEMENTS[(check, columns)] = Prepared(_build(check, columns))
    return found


def params(
    row: Mapping[str, Any], authors: list[str], subjects: list[str], changes: dict[str, Any]
) -> dict[str, Any]:
    """The statement's parameters for a book's ``row`` (its columns' values), its folded
    ``authors`` and ``subjects`` and its history entry's ``changes``."""
    return {
        **{f"v_{name}": value for name, value in row.items()},
        "b_authors": authors,
        "b_subjects": subjects,
        "b_changes": changes,
        "b_slot": counts.random_slot(),
    }


def _build(check: Check, columns: tuple[str, ...]) -> Any:
    values = {name: bindparam(f"v_{name}", type_=_b[name].type) for name in columns}
    row: Any
    if check == "title":
        free = ~exists().where(
            _b.duplicate_key == bindparam("v_duplicate_key"), _b.deleted_at.is_(None)
        )
        row = insert(_books).from_select(list(columns), select(*values.values()).where(free))
    elif check == "isbn":
        row = (
            postgresql_insert(_books)
            .values(values)
            .on_conflict_do_nothing(index_elements=[_b.isbn], index_where=_b.deleted_at.is_(None))
        )
    else:
        row = insert(_books).values(values)
    book = row.returning(_b.id).cte("book")
    facets = [
        insert(table)
        .from_select(
            ["book_id", column],
            select(
                book.c.id,
                func.unnest(bindparam(f"b_{name}", type_=ARRAY(table.c[column].type))),
            ),
        )
        .cte(name)
        for table, column, name in (
            (cast(Table, BookAuthor.__table__), "name_key", "authors"),
            (cast(Table, BookSubject.__table__), "subject_key", "subjects"),
        )
    ]
    counted = (
        update(_counts)
        .where(_counts.c.slot == bindparam("b_slot"), exists(select(book.c.id)))
        .values(live=_counts.c.live + _ONE, changes=_counts.c.changes + _ONE)
        .cte("counted")
    )
    entry = (
        insert(_history)
        .from_select(
            ["book_id", "version", "action", "changed_at", "changed_by", "changes"],
            select(
                book.c.id,
                _ONE,
                literal_column("'created'"),
                values["created_at"],
                values["created_by"],
                bindparam("b_changes", type_=_history.c.changes.type),
            ),
        )
        .cte("history")
    )
    return select(book.c.id).add_cte(*facets, counted, entry)
