"""The catalog's writes of one book on PostgreSQL, each one statement: adding a book (its row
with the duplicate check, its author and subject rows, the count and the history entry), and
changing one (replacing, patching, deleting: its UPDATE with the check, the author and subject
rows that differ, the count and the history entry).

On SQLite a statement is a call into the library; on PostgreSQL it is a round trip to the
server, and the statements of :func:`books_service.catalog.insert_book` (five to seven) and of
a change (five to eight) were most of what a write waited for and much of the client's CPU
(issue 12). Here the book's own ``INSERT`` or ``UPDATE ... RETURNING`` comes first and every
other write hangs off it as a data-modifying CTE::

    WITH book AS (INSERT INTO books ... RETURNING id, version, updated_at, updated_by),
         authors AS (INSERT INTO book_authors SELECT book.id, unnest(:authors) FROM book),
         subjects AS (INSERT INTO book_subjects SELECT book.id, unnest(:subjects) FROM book),
         counted AS (UPDATE book_counts SET ... WHERE slot = :slot AND EXISTS (SELECT FROM book)),
         history AS (INSERT INTO book_history SELECT book.id, book.version, ... FROM book)
    SELECT book.id FROM book

(a change also deletes the author and subject rows that are gone). Every other write reads
``book``, so a write that the duplicate check keeps out (no row back) leaves nothing behind:
no facet rows, no count, no history, even in a transaction its caller goes on with. The
statement is one unit for the foreign keys, which PostgreSQL checks at its end, when the book's
row is there.

A statement reads the catalog as it was when it started, so two writers of the same new title
that looked for it after taking the title's advisory lock inside the statement would both find
it free. A write therefore looks through ``estante_title_free`` (:func:`title_free`,
migrations ``books_0006`` and ``books_0007``), a VOLATILE function whose look, after the lock,
takes a snapshot of its own: the statement needs no lock before it, and alone in autocommit it
is the whole write (see :mod:`books_service.book_writes` for how a change uses it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, cast

from sqlalchemy import (
    BigInteger,
    Table,
    any_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.expression import ColumnClause

from books_service import counts
from books_service.models import Book, BookAuthor, BookCount, BookHistory, BookSubject
from common.prepared import Prepared

# How a new book's row is kept from duplicating a live one: by the live-ISBN unique index, by
# no live book with its duplicate key (its title and authors, under the caller's lock), or not.
Check = Literal["isbn", "title", "none"]
Action = Literal["updated", "deleted"]

_books = cast(Table, Book.__table__)
_b = _books.c
_counts = cast(Table, BookCount.__table__)
_history = cast(Table, BookHistory.__table__)
_FACETS = (
    (cast(Table, BookAuthor.__table__), "name_key", "authors"),
    (cast(Table, BookSubject.__table__), "subject_key", "subjects"),
)
# Constants written into the SQL (an anonymous parameter would be one the caller must name).
_ONE: ColumnClause[Any] = literal_column("1")
# A change's statement differs with the columns it SETs; writers set a handful of combinations,
# and past this many new ones are built and not kept.
MAX_FORMS = 1024
_STATEMENTS: dict[tuple[Any, ...], Prepared] = {}


def adding(check: Check, columns: tuple[str, ...]) -> Prepared:
    """The statement adding a book whose row gives ``columns``, its duplicate check ``check``
    (built once for each: a writer gives the same columns every time). Parameters:
    :func:`add_params`."""
    return _kept(("add", check, columns), lambda: _adding(check, columns))


def add_params(
    row: Mapping[str, Any],
    authors: list[str],
    subjects: list[str],
    changes: dict[str, Any],
    check: Check,
) -> dict[str, Any]:
    """:func:`adding`'s parameters for a book's ``row`` (its columns' values), its folded
    ``authors`` and ``subjects``, its history entry's ``changes``, and for the ``title`` check
    its title's lock."""
    params = {
        **{f"v_{name}": value for name, value in row.items()},
        "b_authors": authors,
        "b_subjects": subjects,
        "b_changes": changes,
        "b_slot": counts.random_slot(),
    }
    if check == "title":
        params["b_lock"] = title_lock(row["duplicate_key"])
    return params


def title_lock(duplicate_key: str) -> int:
    """The advisory lock (a bigint) of a title and authors: the first 60 bits of the key."""
    return int(duplicate_key[:15], 16)


def title_free(key: Any, exclude: Any = None) -> Any:
    """The condition that no live book (other than the one ``exclude`` names) has the duplicate
    key ``key``, looked for after the title's lock ``b_lock`` is granted, with a snapshot of
    its own (``estante_title_free``, migrations books_0006 and books_0007): the statement that
    carries it needs no lock before it, and can be the whole write alone."""
    lock = bindparam("b_lock", type_=BigInteger)
    if exclude is None:
        return func.estante_title_free(key, lock)
    return func.estante_title_free(key, lock, exclude)


def changing(
    name: str, update_book: Update, columns: tuple[str, ...], *, facets: bool, action: Action
) -> Prepared:
    """The statement changing a book: ``update_book`` (the catalog's ``UPDATE books WHERE id =
    :b_id``, with its duplicate check as a condition; ``name`` names it) SETs ``columns``, then
    when ``facets`` the author and subject rows that differ, then the count (one book fewer
    for a deletion) and the history entry. Parameters: :func:`change_params`."""
    key = ("change", name, columns, facets, action)
    return _kept(key, lambda: _changing(update_book, columns, facets, action))


def change_params(
    sets: Mapping[str, Any],
    checks: Mapping[str, Any],
    changes: dict[str, Any],
    facets: Mapping[str, tuple[Iterable[str], Iterable[str]]] | None = None,
) -> dict[str, Any]:
    """:func:`changing`'s parameters: the columns' new values ``sets``, the parameters of the
    UPDATE's own conditions ``checks`` (``b_id``, ``b_isbn``...), the history entry's
    ``changes`` and, for a statement with ``facets``, each facet's (gone, new) keys by name
    ("authors", "subjects")."""
    params = {
        **checks,
        **{f"v_{name}": value for name, value in sets.items()},
        "b_changes": changes,
        "b_slot": counts.random_slot(),
    }
    for name, (gone, new) in (facets or {}).items():
        params[f"b_gone_{name}"] = sorted(gone)
        params[f"b_{name}"] = sorted(new)
    return params


def _kept(key: tuple[Any, ...], build: Callable[[], Any]) -> Prepared:
    found = _STATEMENTS.get(key)
    if found is None:
        found = Prepared(build())
        if len(_STATEMENTS) < MAX_FORMS:
            _STATEMENTS[key] = found
    return found


def _adding(check: Check, columns: tuple[str, ...]) -> Any:
    values = _values(columns)
    row: Any
    if check == "title":
        free = title_free(bindparam("v_duplicate_key"))
        row = insert(_books).from_select(list(columns), select(*values.values()).where(free))
    elif check == "isbn":
        row = (
            postgresql_insert(_books)
            .values(values)
            .on_conflict_do_nothing(index_elements=[_b.isbn], index_where=_b.deleted_at.is_(None))
        )
    else:
        row = insert(_books).values(values)
    book = row.returning(_b.id, _b.version, _b.updated_at, _b.updated_by).cte("book")
    return _with_the_rest(book, _new_facets(book), live=1, action="created")


def _changing(update_book: Update, columns: tuple[str, ...], facets: bool, action: Action) -> Any:
    row = update_book.values(_values(columns))
    book = row.returning(_b.id, _b.version, _b.updated_at, _b.updated_by).cte("book")
    rows = []
    if facets:
        rows = [
            delete(table)
            .where(
                table.c.book_id.in_(select(book.c.id)),
                table.c[column]
                == any_(bindparam(f"b_gone_{name}", type_=ARRAY(table.c[column].type))),
            )
            .cte(f"gone_{name}")
            for table, column, name in _FACETS
        ] + _new_facets(book)
    return _with_the_rest(book, rows, live=-1 if action == "deleted" else 0, action=action)


def _values(columns: tuple[str, ...]) -> dict[str, Any]:
    return {name: bindparam(f"v_{name}", type_=_b[name].type) for name in columns}


def _new_facets(book: Any) -> list[Any]:
    """A facet row for each key in ``b_authors`` and ``b_subjects``, of the book written."""
    return [
        insert(table)
        .from_select(
            ["book_id", column],
            select(
                book.c.id,
                func.unnest(bindparam(f"b_{name}", type_=ARRAY(table.c[column].type))),
            ),
        )
        .cte(name)
        for table, column, name in _FACETS
    ]


def _with_the_rest(book: Any, facets: list[Any], *, live: int, action: str) -> Any:
    """The count and the history entry of the book written, and the whole statement."""
    counted = (
        update(_counts)
        .where(_counts.c.slot == bindparam("b_slot"), exists(select(book.c.id)))
        .values(live=_counts.c.live + literal_column(str(live)), changes=_counts.c.changes + _ONE)
        .cte("counted")
    )
    entry = (
        insert(_history)
        .from_select(
            ["book_id", "version", "action", "changed_at", "changed_by", "changes"],
            select(
                book.c.id,
                book.c.version,
                literal_column(f"'{action}'"),
                book.c.updated_at,
                book.c.updated_by,
                bindparam("b_changes", type_=_history.c.changes.type),
            ),
        )
        .cte("history")
    )
    return select(book.c.id).add_cte(*facets, counted, entry)
