"""New books that arrive together on PostgreSQL, added by one statement.

Adding a book on PostgreSQL is one statement alone (:mod:`books_service.pg_writes`), and most of
what the server spends on it is the statement's, not the book's (issue 12, measured with
``perf`` under 64 concurrent POSTs): starting its executor (every table and index of the five
it writes opened and locked), the WAL's flush at its commit, the round trip, its plan's checks.
So while one worker thread's statement is on its way, the POSTs that the worker's other threads
take meanwhile queue, and the next of them to lead adds them all in one statement
(:class:`common.group_commit.LeaderQueue`: nobody waits for a group to fill; a POST alone is
added alone at once, as before). Each book still gets its own outcome, exactly as alone:

* **its duplicate check**: a row each, in the statement (the live-ISBN index's ``ON CONFLICT
  DO NOTHING``, which also keeps out the second of two new books with one ISBN; a title's lock
  and look, ``estante_title_free``, taken in the order of the locks' keys so that two groups
  never wait for each other). Two books of one title and authors are never in one statement:
  the look of the second could not see the first;
* **its rows**: its id (drawn from the books' sequence for each input row, so that the rows of
  the book written are its own: authors, subjects, history), its author and subject rows, its
  history entry; the count goes up by the books written;
* **atomic and durable before answered**: the statement commits all of it (autocommit) before
  any caller is answered; if it fails, each book is added again alone, for its own answer.

The books travel as one JSON array (``json_to_recordset``): one parameter, serialised in C,
where an array parameter for each column would be dumped value by value in Python.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, DateTime, Float, Integer, String, Table, column, text
from sqlalchemy.sql.selectable import TextualSelect

from books_service import counts
from books_service.catalog import BookValues, NewBook
from books_service.models import Book
from books_service.pg_writes import Check, title_lock
from common.db import Database, connection_of
from common.group_commit import LeaderQueue, Queued, Take
from common.prepared import Prepared

# At most this many books in one statement: the first caller waits for the last book's rows.
MAX_TOGETHER = 16

_books = cast(Table, Book.__table__)
_STATEMENTS: dict[tuple[Check, tuple[str, ...]], Prepared] = {}
_QUEUES: weakref.WeakKeyDictionary[Database, LeaderQueue[NewBook, BookValues]] = (
    weakref.WeakKeyDictionary()
)
_QUEUES_LOCK = threading.Lock()


def queued(db: Database) -> int:
    """How many new books of this process wait for the statement that will add them."""
    queue = _QUEUES.get(db)
    return queue.waiting() if queue is not None else 0


def add(db: Database, new: NewBook) -> BookValues:
    """Add ``new`` (:func:`books_service.catalog.new_book`), with whatever other threads of this
    process add meanwhile: its values, or its :class:`~books_service.catalog.DuplicateBook`
    raised."""
    queue = _QUEUES.get(db)
    if queue is None:
        with _QUEUES_LOCK:
            queue = _QUEUES.get(db)
            if queue is None:
                queue = _QUEUES[db] = LeaderQueue(_runner(weakref.ref(db)), MAX_TOGETHER)
    return queue.submit(new)


def add_alone(db: Database, new: NewBook) -> BookValues:
    """Add ``new`` by its own statement (:meth:`NewBook.statement`)."""
    found = db.alone(*new.statement())  # the statement alone is the transaction
    if found is None:
        with db.read() as session:
            raise new.duplicate(connection_of(session))
    return new.values(int(found["id"]))


def _runner(db: weakref.ref[Database]) -> Callable[[Take[NewBook, BookValues]], None]:
    """The queue's groups, run on ``db`` (referred to weakly: the queue is kept with it)."""

    def run(take: Take[NewBook, BookValues]) -> None:
        found = db()
        assert found is not None, "a queue is used only through its database"
        _run(found, take)

    return run


def _run(db: Database, take: Take[NewBook, BookValues]) -> None:
    """One group: the books of each statement form (duplicate check, columns) together."""
    forms: dict[tuple[Check, tuple[str, ...]], list[Queued[NewBook, BookValues]]] = {}
    for job in take():
        forms.setdefault((job.item.check, tuple(job.item.row)), []).append(job)
    for (check, columns), jobs in forms.items():
        if len(jobs) == 1 or (check == "title" and not _distinct_titles(jobs)):
            for job in jobs:
                _settle(job, lambda new: add_alone(db, new))
        else:
            _together(db, check, columns, jobs)


def _distinct_titles(jobs: Sequence[Queued[NewBook, BookValues]]) -> bool:
    keys = {job.item.row["duplicate_key"] for job in jobs}
    return len(keys) == len(jobs)


def _settle(job: Queued[NewBook, BookValues], add_one: Callable[[NewBook], BookValues]) -> None:
    try:
        job.result = add_one(job.item)
    except Exception as error:
        job.error = error
    job.done = True


def _together(
    db: Database,
    check: Check,
    columns: tuple[str, ...],
    jobs: list[Queued[NewBook, BookValues]],
) -> None:
    if check == "title":  # the titles' locks in the order of their keys
        jobs.sort(key=lambda job: title_lock(job.item.row["duplicate_key"]))
    try:
        params = together_params(check, jobs)
        written = db.alone_rows(together(check, columns), params)
    except Exception:
        # No book was added (the statement is atomic, or was never sent): each alone, for its
        # own answer.
        for job in jobs:
            _settle(job, lambda new: add_alone(db, new))
        return
    ids = {row["b_n"]: row["id"] for row in written}
    duplicates = []
    for number, job in enumerate(jobs):
        book_id = ids.get(number)
        if book_id is None:
            duplicates.append(job)
        else:
            job.result = job.item.values(int(book_id))
            job.done = True
    if duplicates:
        try:
            with db.read() as session:
                connection = connection_of(session)
                for job in duplicates:
                    job.error = job.item.duplicate(connection)
                    job.done = True
        except Exception as error:
            for job in duplicates:
                if not job.done:
                    job.error, job.done = error, True


def together_params(check: Check, jobs: Sequence[Queued[NewBook, BookValues]]) -> dict[str, Any]:
    """:func:`together`'s parameters: the books as one JSON array, each book's row numbered
    as in ``jobs``, and the count's slot."""
    rows = []
    for number, job in enumerate(jobs):
        new = job.item
        row: dict[str, Any] = {name: _json_value(name, value) for name, value in new.row.items()}
        row["b_n"] = number
        row["b_authors"] = new.authors
        row["b_subjects"] = new.subjects
        row["b_changes"] = json.dumps(new.changes)
        if check == "title":
            row["b_lock"] = title_lock(new.row["duplicate_key"])
        rows.append(row)
    return {"b_rows": json.dumps(rows, ensure_ascii=False), "b_slot": counts.random_slot()}


def _json_value(name: str, value: Any) -> Any:
    """A column's value as the JSON array carries it: a time as ISO 8601 (with its offset), a
    JSON column's value as the text SQLAlchemy would have stored (``json.dumps``), anything
    else as it is."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(_books.c[name].type, JSON):
        return json.dumps(value)
    return value


def together(check: Check, columns: tuple[str, ...]) -> Prepared:
    """The statement adding the books of :func:`together_params`'s array whose rows give
    ``columns``, each kept out by ``check`` when it duplicates a live book; its rows: each
    book's number (``b_n``) and its new id, or none when it was kept out."""
    found = _STATEMENTS.get((check, columns))
    if found is None:
        found = _STATEMENTS[(check, columns)] = Prepared(_together_statement(check, columns))
    return found


def _recordset_type(name: str) -> str:
    kind = _books.c[name].type
    if isinstance(kind, JSON | String):
        return "text"  # stored into varchar(n) and json by assignment (lengths checked there)
    if isinstance(kind, DateTime):
        return "timestamptz" if kind.timezone else "timestamp"
    if isinstance(kind, Float):
        return "float8"
    if isinstance(kind, Integer):
        return "bigint"
    raise TypeError(f"no type for the column {name!r}")


def _together_statement(check: Check, columns: tuple[str, ...]) -> TextualSelect:
    # Names and types from the table's own metadata, never from input.
    fields = ", ".join(f"{name} {_recordset_type(name)}" for name in columns)
    values = ", ".join(
        f"CAST({name} AS json)" if isinstance(_books.c[name].type, JSON) else name
        for name in columns
    )
    keep_out = {
        "title": "WHERE estante_title_free(duplicate_key, b_lock)",
        "isbn": "",
        "none": "",
    }[check]
    conflict = "ON CONFLICT (isbn) WHERE deleted_at IS NULL DO NOTHING" if check == "isbn" else ""
    facets = "\n".join(
        f"""    {name} AS (
        INSERT INTO {table} (book_id, {key})
        SELECT input.id, unnest(input.b_{name}) FROM input JOIN book ON book.id = input.id
    ),"""  # noqa: S608
        for name, table, key in (  # constants below, never input
            ("authors", "book_authors", "name_key"),
            ("subjects", "book_subjects", "subject_key"),
        )
    )
    sql = f"""
WITH input AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('books', 'id')) AS id, r.*
    FROM json_to_recordset(CAST(:b_rows AS json))
        AS r(b_n integer, b_lock bigint, b_authors text[], b_subjects text[], b_changes text,
             {fields})
),
    book AS (
        INSERT INTO books (id, {", ".join(columns)})
        SELECT id, {values} FROM input {keep_out}
        ORDER BY b_n
        {conflict}
        RETURNING id, version, updated_at, updated_by
    ),
{facets}
    counted AS (
        UPDATE book_counts
        SET live = live + (SELECT count(*) FROM book),
            changes = changes + (SELECT count(*) FROM book)
        WHERE slot = :b_slot AND EXISTS (SELECT FROM book)
    ),
    history AS (
        INSERT INTO book_history (book_id, version, action, changed_at, changed_by, changes)
        SELECT book.id, book.version, 'created', book.updated_at, book.updated_by,
               CAST(input.b_changes AS json)
        FROM book JOIN input ON input.id = book.id
        ORDER BY book.id
    )
SELECT input.b_n, book.id FROM input LEFT JOIN book ON book.id = input.id
"""  # noqa: S608
    return text(sql).columns(column("b_n", Integer()), column("id", Integer()))
