"""A book's history: one entry per create, update, delete and restore (who, when, which fields
from what to what), written in the transaction that makes the change, read a page at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Connection, Table, func, insert, select
from sqlalchemy.orm import Session

from books_service.models import BookHistory
from common.clock import isoformat
from common.db import connection_of
from common.pagination import Cursor, Order, Page, SortKey, read_page
from common.prepared import Prepared

Action = Literal["created", "updated", "deleted", "restored"]
_entry = BookHistory.__table__.c
ORDER = Order("history", (SortKey(_entry.id, "int"),))


_INSERT = Prepared(insert(cast(Table, BookHistory.__table__)))


def add(
    session: Session | Connection,
    book_id: int,
    version: int,
    action: Action,
    at: datetime,
    by: str,
    changes: dict[str, Any],
) -> None:
    """Add the entry for the book's ``version``, made ``at`` that moment: one INSERT compiled
    once, on the connection's cursor (see :mod:`common.prepared`)."""
    _INSERT.run(
        connection_of(session),
        {
            "book_id": book_id,
            "version": version,
            "action": action,
            "changed_at": at,
            "changed_by": by,
            "changes": changes,
        },
    )


def read(
    session: Session, book_id: int, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], Page, int]:
    """One page of the book's entries, oldest first, and how many there are in all."""
    statement = select(
        _entry.version,
        _entry.action,
        _entry.changed_at,
        _entry.changed_by,
        _entry.changes,
        _entry.origin,
    ).where(_entry.book_id == book_id)
    page = read_page(
        statement,
        ORDER,
        Cursor.decode(cursor, ORDER) if cursor else None,
        limit,
        lambda query: session.execute(query).all(),
    )
    entries = [
        {
            "version": row.version,
            "action": row.action,
            "changed_at": isoformat(row.changed_at),
            "changed_by": row.changed_by,
            "changes": row.changes,
            # Changes made by an import say which import, file and row.
            **({"origin": row.origin} if row.origin else {}),
        }
        for row in page.rows
    ]
    total = session.scalar(select(func.count()).where(_entry.book_id == book_id)) or 0
    return entries, page, total
