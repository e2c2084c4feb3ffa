"""``GET /books/export``'s reading side: every book matching the listing's filters, in the
listing's order, read a keyset page at a time (constant memory, short read transactions).

Why not :func:`books_service.listing.list_books` page after page: it builds each book's JSON
object (dates parsed into datetimes and formatted back, lists decoded), and at tens of thousands
of books a second that is most of the time. Here the rows stay as the driver gives them, with
the dates and the JSON lists selected as text, and each format writer
(:mod:`books_service.transfer.export_writers`) takes from a row only what it writes. The
filters, the search and the orders are the listing's own pieces (``narrowed``, ``order_for``,
``ranked_page``, the search's tiers), so a file holds exactly what ``GET /books`` lists."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Text, cast, false, func, type_coerce
from sqlalchemy.orm import Session

from books_service import listing, search
from books_service.models import Book
from books_service.representation import COLUMNS
from common.clock import isoformat
from common.db import Database
from common.pagination import Cursor, Page, read_page, read_tiered_page

PAGE = 2000
_book = Book.__table__.c
# Where each value is in an export row (the columns of GET /books's books, isbn_10 apart).
NAMES = tuple(column.key for column in COLUMNS)
AT = {name: i for i, name in enumerate(NAMES)}
_LISTS = ("authors", "subjects")
_TIMES = ("created_at", "updated_at")
_COLUMN = {column.key: column for column in COLUMNS}
Row = Sequence[Any]


def columns(dialect: str, names: Sequence[str] = NAMES) -> list[Any]:
    """The book's columns ``names`` with the JSON lists as their stored text and the times as
    text (SQLite: as stored, ``2024-03-01 01:00:05.012345``; PostgreSQL: the time in UTC as the
    server writes a timestamp in the ISO DateStyle, which :func:`iso_dates` sets,
    ``2024-03-01 01:00:05.01234`` with the fraction's trailing zeros dropped and no fraction on
    a whole second), so no row is decoded or parsed on its way to a file. A format selects only
    the columns it writes: every other one would still be read, sent and made a Python object.

    Not ``to_char(..., 'YYYY-MM-DD"T"HH24:MI:SS.US')``, which wrote one fixed form: it cost
    the server about 1 µs a row more than the cast (docs/performance.md), CPU taken from the
    service and its client when they share the cores."""
    chosen: list[Any] = []
    for name in names:
        column = _COLUMN[name]
        value: Any
        if name in _LISTS:
            value = type_coerce(column, Text) if dialect == "sqlite" else cast(column, Text)
        elif name in _TIMES:
            value = time_text(dialect, column)
        else:
            value = column
        chosen.append(value.label(name))
    return chosen


def time_text(dialect: str, time: Any) -> Any:
    """A time (a column, or any expression of the column's type) as :func:`columns` reads it."""
    if dialect == "sqlite":
        return type_coerce(time, Text)
    return cast(func.timezone("UTC", time), Text)


def iso_time(value: Any) -> str:
    """A stored time as GET /books writes it (ISO 8601 in UTC with a "Z", the microseconds
    only when there are any, always six digits of them), from its text without parsing it.
    The text is SQLite's stored form (``2024-03-01 01:00:05.012300``, always six digits) or
    PostgreSQL's ISO form of the time in UTC (see :func:`columns`: ``2024-03-01 01:00:05.0123``
    or, on a whole second, ``2024-03-01 01:00:05``); anything else is parsed."""
    if type(value) is str:
        size = len(value)
        if size == 26 and value[19] == ".":
            if value.endswith(".000000"):
                return value[:10] + "T" + value[11:19] + "Z"
            return value[:10] + "T" + value[11:] + "Z"
        if size == 19 and value[4] == "-" and value[16] == ":":
            return value[:10] + "T" + value[11:] + "Z"
        if 20 < size < 26 and value[4] == "-" and value[19] == "." and value[20:].isdigit():
            return value[:10] + "T" + value[11:] + _ZEROS[size] + "Z"
    if isinstance(value, str):
        return isoformat(datetime.fromisoformat(value))
    return isoformat(value)


# The zeros PostgreSQL leaves out of a fraction of second, by the length of the text.
_ZEROS = {size: "0" * (26 - size) for size in range(21, 26)}


def _as_text_row(row: Any, names: Sequence[str]) -> tuple[Any, ...]:
    """A row of listing's own columns (lists decoded, datetimes) in the export's text form,
    only the columns ``names``."""
    values = row._mapping
    return tuple(json.dumps(values[name]) if name in _LISTS else values[name] for name in names)


def iso_dates(session: Session) -> None:
    """The ISO DateStyle for the rest of the session's transaction (PostgreSQL): the times are
    read as the server's text (see :func:`columns`), whose form follows the DateStyle, which a
    server, database, role or client (``PGDATESTYLE``) may set otherwise ('SQL, DMY' writes
    ``01/03/2024 01:00:05``). ``SET LOCAL`` ends with the transaction: no pooled connection
    keeps it."""
    session.connection().exec_driver_sql("SET LOCAL DateStyle = 'ISO'")


def _raw_rows(session: Session, query: Select) -> list[Any]:
    """The rows of ``query`` as the driver gives them (tuples), without SQLAlchemy's row
    objects: at tens of thousands of rows a second those cost a few microseconds a row (about
    a third of the reading on SQLite, more than half on PostgreSQL). The export's columns need
    no conversion (see :func:`columns`), nor do the page keys: a time SQLite hands over as its
    stored text is compared with the stored text of the next page's rows."""
    result = session.connection().execute(query)  # Core, even for a statement with ORM parts
    try:
        cursor: Any = result.cursor
        return list(cursor.fetchall())
    finally:
        result.close()


def _page(
    session: Session,
    filters: listing.Filters,
    sort: str | None,
    position: Cursor | None,
    names: Sequence[str],
) -> Page:
    """One page of the matching books (raw rows of the columns ``names``) from ``position``."""
    dialect = session.get_bind().dialect
    selected = columns(dialect.name, names)
    if dialect.name != "sqlite" and any(name in _TIMES for name in names):
        iso_dates(session)
    statement = listing.narrowed(filters)
    words = tuple(search.terms(filters.q)) if filters.q else ()
    found = search.Search(dialect.name, words) if words else None
    if filters.q and not words:
        statement = statement.where(false())
    if sort == "relevance" and found is None:
        sort = None
    order = listing.order_for(sort, searching=found is not None)

    def fetch(query: Select) -> list[Any]:
        return _raw_rows(session, query)

    if found and order.name == "relevance" and found.dialect == "sqlite":

        def tier_statement(tier: int) -> tuple[Select, Any]:
            in_tier = found.sqlite_tier(tier)
            joined = statement.add_columns(*selected).join(in_tier, in_tier.c.book_id == _book.id)
            return joined, in_tier.c.book_id

        return read_tiered_page(search.TIERS, tier_statement, order, position, PAGE, fetch)
    matching = statement.where(found.condition(_book.id)) if found else statement
    if found and order.name == "relevance":
        page, _total = listing.ranked_page(
            matching, found, position, PAGE, lambda query: list(session.execute(query).all())
        )
        page.rows = [_as_text_row(row, names) for row in page.rows]
        return page
    return read_page(matching.add_columns(*selected), order, position, PAGE, fetch)


def pages(
    db: Database, filters: listing.Filters, sort: str | None, names: Sequence[str] = NAMES
) -> Iterator[list[Row]]:
    """The matching books, a page of raw rows at a time: the columns ``names`` in that order
    (by default every column of GET /books's books, ``AT`` saying where each is), the lists as
    their JSON text, the times as their stored text (see :func:`iso_time`).

    On PostgreSQL the next page is read in a thread while the caller writes the current one:
    the server's work for it (in its own process, on the other core when one is free) then
    overlaps the writer's instead of adding to it, and the thread waits for the server without
    the GIL. Two pages are held at most. SQLite's reading is this process's own work under the
    GIL, so there it would only take turns with the writer: the pages are read in turn."""

    def read(position: Cursor | None) -> Page:
        with db.read() as session:
            return _page(session, filters, sort, position, names)

    if db.engine.dialect.name == "sqlite":
        return _in_turn(read)
    return _ahead(read)


def _in_turn(read: Callable[[Cursor | None], Page]) -> Iterator[list[Row]]:
    position: Cursor | None = None
    while True:
        page = read(position)
        if page.rows:
            yield page.rows
        if page.next is None:
            return
        position = page.next


def _ahead(read: Callable[[Cursor | None], Page]) -> Iterator[list[Row]]:
    """:func:`_in_turn`'s pages, each next one read while the current one is used. Closing the
    generator (a client gone) waits for the page being read and reads no more."""
    with ThreadPoolExecutor(1, thread_name_prefix="export-read") as reader:
        coming = reader.submit(read, None)
        while True:
            page = coming.result()
            if page.next is not None:
                coming = reader.submit(read, page.next)
            if page.rows:
                yield page.rows
            if page.next is None:
                return
