"""Writing an import's new rows with the database driver itself: ``executemany`` of one
prepared INSERT on SQLite, a binary ``COPY ... FROM STDIN`` on PostgreSQL, in the caller's
transaction.

SQLAlchemy's ``insert(table), rows`` runs every value of every row through its parameter
processing (a fifth of an import's time, measured); here each row is a tuple made once, the
values that are the same for the whole batch (the time, the user) are converted once, and the
JSON columns are serialised as SQLAlchemy would (``json.dumps``). The database's own work is the
same: the rows land in the same tables, the FTS5 trigger (SQLite) and the generated tsvector
column (PostgreSQL) keep them searchable. On PostgreSQL the rows of the books a batch has just
created (their authors, subjects, sources and history) skip the foreign keys' per-row checks,
which they could only pass, when the role may (see ``_unchecked_references``)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Integer,
    Select,
    String,
    Table,
    any_,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from books_service.records import EDITABLE_FIELDS, LIST_FIELDS

_dumps = json.dumps
_text = encode_basestring_ascii  # what json.dumps writes for a string (ensure_ascii)
_int_text = int.__repr__
_float_text = float.__repr__


def origin_json(job_id: int, filename: str, row: int) -> str:
    """``json.dumps({"import": job_id, "file": filename, "row": row})``, built cheaply (the
    file's name is the same for every row of a job)."""
    return f'{{"import": {job_id}, "file": {_dumps(filename)}, "row": {row}}}'


def json_value(value: Any) -> str:
    """``json.dumps(value)``; a list of strings (authors, subjects) without the encoder's set-up
    on every call."""
    if type(value) is list:
        try:
            return "[" + ", ".join(map(_text, value)) + "]"
        except TypeError:  # not all strings
            pass
    return _dumps(value)


def _scalar_json(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _text(value)
    if kind is int:
        return _int_text(value)
    if kind is float and value - value == 0:  # finite
        return _float_text(value)
    return json_value(value)


def created_json(record: Mapping[str, Any]) -> str:
    """``json.dumps(records.initial_values(record))``, a new book's history entry, put together
    from its values' JSON."""
    return created(tuple(map(record.get, EDITABLE_FIELDS)))[1]


# Each editable field's part of a history entry, up to its value's JSON; where the lists are.
_CREATED_HEADS = tuple(f'"{name}": {{"from": null, "to": ' for name in EDITABLE_FIELDS)
_LISTS_AT = frozenset(i for i, name in enumerate(EDITABLE_FIELDS) if name in LIST_FIELDS)


def created(values: Sequence[Any]) -> tuple[list[Any], str]:
    """From a new book's editable values (in ``EDITABLE_FIELDS``' order): those values as its
    row takes them (the lists as JSON, :func:`json_value`) and its history entry
    (:func:`created_json`), each list's JSON made once for both."""
    stored = list(values)
    for at in _LISTS_AT:
        stored[at] = json_value(values[at])
    parts: list[str] = []
    append = parts.append
    # A field is in the entry unless it is None or [] (initial_values).
    for head, value, ready in zip(_CREATED_HEADS, values, stored, strict=True):
        if value is None:
            continue
        kind = type(value)
        if kind is str:
            append(head + _text(value) + "}")
        elif kind is list:
            if value:
                append(head + (json_value(value) if ready is value else ready) + "}")
        elif value != []:
            append(head + _scalar_json(value) + "}")
    return stored, "{" + ", ".join(parts) + "}"


def moment(session: Session, table: Table, column: str, value: datetime) -> Any:
    """``value`` as the driver is given it for ``table.column`` (a string on SQLite)."""
    dialect = session.get_bind().dialect
    processor = table.c[column].type._cached_bind_processor(dialect)
    return processor(value) if processor is not None else value


def one_array(session: Session) -> bool:
    """Whether a lookup of many values is one statement with one array (PostgreSQL) rather
    than IN lists of a bound parameter each (SQLite)."""
    return session.get_bind().dialect.name == "postgresql"


def any_of(query: Select[Any], column: Any, values: Sequence[Any], where: Sequence[Any]) -> Any:
    """``query`` for the rows whose ``column`` is one of ``values``: ``column = ANY(array)``.
    An IN list of 900 parameters made psycopg rewrite a 20 KB statement on every lookup (its
    placeholders converted by a regular expression, too long to be cached: ~13 ms of client CPU
    a statement, three to six statements a batch) and PostgreSQL parse it; one array parameter
    is the same statement every time, any length, and the same index scan."""
    # Strings as VARCHAR[] without the column's length: a cast to VARCHAR(n) would cut longer
    # values short, and a value too long for the column must find nothing.
    kind = String() if isinstance(column.type, String) else column.type
    array = bindparam("values", list(values), type_=postgresql.ARRAY(kind))
    return query.where(column == any_(array), *where)


def in_json_array(
    query: Select[Any], column: Any, values: Sequence[Any], where: Sequence[Any]
) -> Any:
    """SQLite: ``query`` for the rows whose ``column`` is one of ``values``, given as one JSON
    array (``column IN (SELECT value FROM json_each(:values))``). An IN list of a parameter
    each had SQLAlchemy expand and render its SQL again on every lookup, in chunks of 900
    (SQLite's limit on parameters); this is one statement, compiled once, any length, and the
    same index search (checked with ``EXPLAIN QUERY PLAN``): 0.5 against 2.0 ms for 1,000
    ISBNs looked up in a 540,000-book catalog. Strings and integers only (what a JSON array
    gives back as they were)."""
    array = bindparam("values", _dumps(list(values)), type_=String())
    listed = select(func.json_each(array).table_valued("value").c.value)
    return query.where(column.in_(listed), *where)


# SQLite's search index of new books (migration books_0002): filled by this trigger one row at a
# time, or by one statement over the batch's ids (the same rows: see insert_books).
_FTS_TRIGGER = "books_fts_insert"
_FTS_FILL = (
    "INSERT INTO books_fts (rowid, title_key, author_key, search_text) "
    "SELECT id, title_key, author_key, search_text FROM books "
    "WHERE id BETWEEN ? AND ? AND deleted_at IS NULL"
)


def insert_books(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    ids: tuple[int, int],
) -> None:
    """New books with ids from ``ids[0]`` to ``ids[1]``, searchable when the transaction
    commits. On SQLite the FTS5 trigger is set aside while they go in and the batch is indexed
    in one statement, which then puts back the trigger exactly as it was (its SQL read from the
    schema): the index gets the rows the trigger would have given it, for half the books
    table's cost (FTS5 updated row by row between nine B-tree indexes, measured: 115 -> 52 µs a
    book). It is all one transaction: a batch that fails or is killed leaves the trigger and
    the index as they were, and no other writer runs meanwhile (SQLite's write lock)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite" or not rows:
        insert_rows(session, table, columns, rows)
        return
    raw = connection.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        found = cursor.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (_FTS_TRIGGER,)
        ).fetchone()
        if found is None:  # no search index to keep (not this schema)
            insert_rows(session, table, columns, rows)
            return
        cursor.execute(f"DROP TRIGGER {_FTS_TRIGGER}")
        insert_rows(session, table, columns, rows)
        cursor.execute(_FTS_FILL, ids)
        cursor.execute(found[0])
    finally:
        cursor.close()


def insert_rows(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    new_books: Collection[int] | None = None,
) -> None:
    """Insert ``rows`` (tuples in the order of ``columns``, values as the driver takes them).
    On PostgreSQL the ``COPY`` is binary: each value must be of its column's Python type (a
    time a ``datetime``, not text), or psycopg refuses the row (:func:`binary_type`).

    ``new_books``: the ids of the books this transaction has just inserted, when every row's
    ``book_id`` is one of them (an imported book's author, subject, source and history rows).
    On PostgreSQL the rows then go in without the foreign key's check on each row
    (:func:`_unchecked_references`)."""
    if not rows:
        return
    connection = session.connection()
    raw = connection.connection.driver_connection
    assert raw is not None
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor:
            previous = None
            if new_books is not None:
                _check_references(columns, rows, new_books)
                previous = _unchecked_references(cursor, raw.info.server_version)
            copy_in = f"COPY {table.name} ({names}) FROM STDIN (FORMAT BINARY)"
            with cursor.copy(copy_in) as copy:
                copy.set_types([binary_type(table.c[name].type) for name in columns])
                write = copy.write_row
                for row in rows:
                    write(row)
            if previous is not None:
                cursor.execute(_SET_ROLE, (previous,))
        return
    marks = ", ".join("?" * len(columns))
    cursor = raw.cursor()
    try:
        # Names from the table's own metadata, never from input.
        statement = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"  # noqa: S608
        cursor.executemany(statement, rows)
    finally:
        cursor.close()


def binary_type(kind: TypeEngine[Any]) -> str:
    """The PostgreSQL type whose binary form psycopg writes for a column of this type in a
    binary ``COPY``. Binary rows spare the client the text escaping of every value and the
    server the parsing of the times and numbers (measured: ~0.85 of the client's and of the
    server's CPU a row against text rows, in process, 20,000 rows). Strings and JSON (already
    serialised) go as text: the binary form of ``varchar`` and ``json`` is their text."""
    if isinstance(kind, BigInteger):
        return "int8"
    if isinstance(kind, Integer):
        return "int4"
    if isinstance(kind, Float):
        return "float8"
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, DateTime):
        return "timestamptz" if kind.timezone else "timestamp"
    if isinstance(kind, JSON | String):
        return "text"
    raise TypeError(f"no binary COPY type for {kind!r}")


def _check_references(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], new_books: Collection[int]
) -> None:
    """Every row's ``book_id`` is one of ``new_books``: what PostgreSQL's check would have
    found, checked here for the whole batch at once (a set, not a query a row)."""
    at = columns.index("book_id")
    referenced = {row[at] for row in rows}
    if not referenced.issubset(new_books):
        unknown = sorted(referenced.difference(new_books))[:5]
        raise ValueError(f"rows of {unknown} are not rows of this transaction's new books")


# The role's privilege to set session_replication_role: granted to superusers, and from
# PostgreSQL 15 on also by ``GRANT SET ON PARAMETER session_replication_role TO <role>``.
_MAY_SKIP = {
    True: "has_parameter_privilege('session_replication_role', 'SET')",
    False: "current_setting('is_superuser') = 'on'",
}
_SET_ROLE = "SELECT set_config('session_replication_role', %s, true)"


def _unchecked_references(cursor: Any, server_version: int) -> str | None:
    """Skip the foreign keys' checks of the next statement's rows, in this transaction only;
    returns the setting to put back after it (None: not allowed, the rows are checked).

    A foreign key to ``books`` is checked by a trigger on each inserted row: a query that
    finds the book and locks it (``FOR KEY SHARE``, a WAL record the first time), ~35 µs of
    the server's CPU an imported book over its author, subject, source and history rows
    (measured: 128-136 -> 96-98 µs a book). For rows of the books the same transaction has just
    inserted the check can only succeed: the books are there, and no other session sees them,
    let alone deletes them, before this one commits. ``session_replication_role = replica``
    keeps such triggers from firing (not the unique and primary keys, which are not triggers,
    nor the generated search vector); ``set_config(..., true)`` is ``SET LOCAL``: other
    sessions never see it, and a rollback (of the transaction or to a savepoint) undoes it."""
    allowed = _MAY_SKIP[server_version >= 150000]
    cursor.execute(
        "SELECT current_setting('session_replication_role'), CASE WHEN "
        + allowed
        + " THEN set_config('session_replication_role', 'replica', true) END"
    )
    previous, changed = cursor.fetchone()
    return previous if changed is not None else None
