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
from collections.abc import Iterator, Sequence
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
Row = Sequence[Any]


def columns(dialect: str) -> list[Any]:
    """The book's columns with the JSON lists as their stored text and the times as text
    (SQLite: as stored, ``2024-03-01 01:00:05.012345``; PostgreSQL: the same shape in UTC), so
    no row is decoded or parsed on its way to a file."""
    chosen: list[Any] = []
    for column in COLUMNS:
        value: Any
        if column.key in _LISTS:
            value = type_coerce(column, Text) if dialect == "sqlite" else cast(column, Text)
        elif column.key in _TIMES and dialect != "sqlite":
            value = func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US')
        elif column.key in _TIMES:
            value = type_coerce(column, Text)
        else:
            value = column
        chosen.append(value.label(column.key))
    return chosen


def iso_time(value: Any) -> str:
    """A stored time as GET /books writes it (ISO 8601 in UTC with a "Z", the microseconds
    only when there are any), from its text without parsing it."""
    if type(value) is str and len(value) == 26 and value[19] == ".":
        if value.endswith(".000000"):
            return value[:10] + "T" + value[11:19] + "Z"
        return value[:10] + "T" + value[11:] + "Z"
    if isinstance(value, str):
        return isoformat(datetime.fromisoformat(value))
    return isoformat(value)


def _as_text_row(row: Any) -> tuple[Any, ...]:
    """A row of listing's own columns (lists decoded, datetimes) in the export's text form."""
    values = list(row)
    for name in _LISTS:
        values[AT[name]] = json.dumps(values[AT[name]])
    return tuple(values)


def _page(
    session: Session, filters: listing.Filters, sort: str | None, position: Cursor | None
) -> Page:
    """One page of the matching books (raw rows) from ``position``."""
    dialect = session.get_bind().dialect.name
    selected = columns(dialect)
    statement = listing.narrowed(filters)
    words = tuple(search.terms(filters.q)) if filters.q else ()
    found = search.Search(dialect, words) if words else None
    if filters.q and not words:
        statement = statement.where(false())
    if sort == "relevance" and found is None:
        sort = None
    order = listing.order_for(sort, searching=found is not None)

    def fetch(query: Select) -> list[Any]:
        return list(session.execute(query).all())

    if found and order.name == "relevance" and found.dialect == "sqlite":

        def tier_statement(tier: int) -> tuple[Select, Any]:
            in_tier = found.sqlite_tier(tier)
            joined = statement.add_columns(*selected).join(in_tier, in_tier.c.book_id == _book.id)
            return joined, in_tier.c.book_id

        return read_tiered_page(search.TIERS, tier_statement, order, position, PAGE, fetch)
    matching = statement.where(found.condition(_book.id)) if found else statement
    if found and order.name == "relevance":
        page, _total = listing.ranked_page(matching, found, position, PAGE, fetch)
        page.rows = [_as_text_row(row) for row in page.rows]
        return page
    return read_page(matching.add_columns(*selected), order, position, PAGE, fetch)


def pages(db: Database, filters: listing.Filters, sort: str | None) -> Iterator[list[Row]]:
    """The matching books, a page of raw rows at a time (``AT`` says where each value is; the
    lists are their JSON text, the times their stored text: see :func:`iso_time`)."""
    position: Cursor | None = None
    while True:
        with db.read() as session:
            page = _page(session, filters, sort, position)
        if page.rows:
            yield page.rows
        if page.next is None:
            return
        position = page.next
