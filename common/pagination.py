"""Keyset pagination: a page is "the next N rows after this position", never "skip M rows", so
page 10,000 costs what page 1 costs, and rows added or removed meanwhile never make a walk
through the pages repeat or skip a row.

An order is a list of :class:`SortKey` ending in a unique key (the id), all in one direction, so
"after this position" is a single row-value comparison, ``(k1, k2) > (v1, v2)``, which both
SQLite and PostgreSQL answer with one range scan of the matching index. A :class:`Cursor` is a
position (the sort values of one row) plus a direction, encoded opaquely for URLs; the cursor
with no position read backwards is the end of the list (``last``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias

from sqlalchemy import ColumnElement, Integer, Select, literal, tuple_
from sqlalchemy.orm import QueryableAttribute

from common.clock import as_utc
from common.errors import ApiError

ValueKind = Literal["int", "float", "str", "datetime"]
MAX_CURSOR_LENGTH = 4096


class InvalidCursor(ApiError):
    status = 422
    type = "/problems/validation-error"
    title = "Invalid request"

    def __init__(self, why: str = "is not a valid cursor") -> None:
        super().__init__(
            f"The cursor {why}: use the links of the Link header as they are.",
            errors=[{"field": "cursor", "message": why, "type": "cursor"}],
        )


# A SELECT of any columns (SQLAlchemy 2.1 types a SELECT by the types of its columns).
AnySelect: TypeAlias = "Select[*tuple[Any, ...]]"


@dataclass(frozen=True)
class SortKey:
    """One ordering term: an expression and the kind of its values (for cursors)."""

    expression: ColumnElement[Any] | QueryableAttribute[Any]  # a column, or a mapped one
    kind: ValueKind


@dataclass(frozen=True)
class Order:
    """A complete order: named (cursors remember it), its keys (the last one unique) and its
    direction."""

    name: str
    keys: tuple[SortKey, ...]
    descending: bool = False


@dataclass(frozen=True)
class Cursor:
    order: str
    values: tuple[Any, ...] | None  # None: from the very end ("last")
    backwards: bool

    def encode(self) -> str:
        payload = {
            "o": self.order,
            "v": None if self.values is None else [_to_json(v) for v in self.values],
            "b": self.backwards,
        }
        raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, token: str, order: Order) -> Cursor:
        """The cursor, checked against the order it must belong to; InvalidCursor (a 422) for
        anything else, whatever the token holds."""
        if len(token) > MAX_CURSOR_LENGTH:
            raise InvalidCursor("is too long")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload = json.loads(raw)
        except (ValueError, binascii.Error, RecursionError):
            raise InvalidCursor() from None
        if not isinstance(payload, dict) or not isinstance(payload.get("b"), bool):
            raise InvalidCursor()
        if payload.get("o") != order.name:
            raise InvalidCursor("belongs to another sort order")
        values = payload.get("v")
        if values is None:
            return cls(order.name, None, payload["b"])
        if not isinstance(values, list) or len(values) != len(order.keys):
            raise InvalidCursor()
        parsed = tuple(_from_json(v, key.kind) for v, key in zip(values, order.keys, strict=True))
        return cls(order.name, parsed, payload["b"])


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value


_INT_RANGE = range(-(2**63), 2**63)


def _from_json(value: Any, kind: ValueKind) -> Any:
    checks: dict[ValueKind, Callable[[Any], bool]] = {
        "int": lambda v: type(v) is int and v in _INT_RANGE,
        "float": lambda v: type(v) in (int, float) and math.isfinite(v),
        "str": lambda v: isinstance(v, str) and "\x00" not in v,
        "datetime": lambda v: isinstance(v, str),
    }
    if not checks[kind](value):
        raise InvalidCursor()
    if kind == "float":
        return float(value)
    if kind == "datetime":
        try:
            moment = datetime.fromisoformat(value)
            # A moment at either end of datetime's range with an offset (0001-01-01T00:00+05:00)
            # is outside the range in UTC: OverflowError.
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        except (ValueError, OverflowError):
            raise InvalidCursor() from None
    if kind == "str":
        try:
            value.encode()  # a lone surrogate cannot be a stored value
        except UnicodeEncodeError:
            raise InvalidCursor() from None
    return value


@dataclass
class Page:
    rows: list[Any]
    next: Cursor | None
    prev: Cursor | None
    last: Cursor


def read_page(
    statement: AnySelect,
    order: Order,
    cursor: Cursor | None,
    limit: int,
    fetch: Callable[[AnySelect], Sequence[Any]],
) -> Page:
    """One page of ``statement`` (which must not be ordered or limited yet). ``fetch`` runs a
    statement and returns its rows. The order's key values are added at the end of each row
    (labelled, so a key that is also a selected column is not merged with it)."""
    keys = tuple(key.expression for key in order.keys)
    statement = statement.add_columns(*(k.label(f"page_key_{i}") for i, k in enumerate(keys)))
    backwards = cursor is not None and cursor.backwards
    if cursor is not None and cursor.values is not None:
        position = tuple_(*keys)
        # Forwards in an ascending order means "greater"; each of the other three cases flips it.
        if backwards == order.descending:
            statement = statement.where(position > tuple_(*cursor.values))
        else:
            statement = statement.where(position < tuple_(*cursor.values))
    reverse = backwards != order.descending
    statement = statement.order_by(*(k.desc() if reverse else k.asc() for k in keys))
    return _page(list(fetch(statement.limit(limit + 1))), order, cursor, limit)


def read_tiered_page(
    tiers: int,
    tier_statement: Callable[[int], tuple[AnySelect, ColumnElement[int]]],
    order: Order,
    cursor: Cursor | None,
    limit: int,
    fetch: Callable[[AnySelect], Sequence[Any]],
) -> Page:
    """One page of an ascending order ``(tier, id)`` whose ``tiers`` are separate statements:
    ``tier_statement(t)`` is the statement of tier t (not ordered or limited yet) and the id
    column it is read in order of. A page takes what it needs from the tier of its position on, each
    statement read from a position in its own order, so no tier is ever sorted whole (SQLite's
    search index reads its matches in rowid order)."""
    backwards = cursor is not None and cursor.backwards
    tier, after = (
        (cursor.values[0], cursor.values[1])
        if cursor is not None and cursor.values is not None
        else (tiers - 1 if backwards else 0, None)
    )
    rows: list[Any] = []
    while 0 <= tier < tiers and len(rows) <= limit:
        statement, row_id = tier_statement(tier)
        statement = statement.add_columns(
            literal(tier, Integer).label("page_key_0"), row_id.label("page_key_1")
        )
        if after is not None:
            statement = statement.where(row_id < after if backwards else row_id > after)
        statement = statement.order_by(row_id.desc() if backwards else row_id.asc())
        rows += fetch(statement.limit(limit + 1 - len(rows)))
        tier, after = tier + (-1 if backwards else 1), None
    return _page(rows, order, cursor, limit)


def _page(rows: list[Any], order: Order, cursor: Cursor | None, limit: int) -> Page:
    """The page of ``rows``: up to ``limit + 1`` rows as read (backwards when the cursor goes
    back), each ending with its position in ``order``."""
    backwards = cursor is not None and cursor.backwards
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    n = len(order.keys)

    def position_of(row: Any) -> tuple[Any, ...]:
        return tuple(row[-n:])

    started_from_start = cursor is None
    from_the_end = cursor is not None and cursor.values is None
    has_next = (more and not backwards) or (backwards and not from_the_end)
    has_prev = (more and backwards) or (not backwards and not started_from_start)
    return Page(
        rows=rows,
        next=Cursor(order.name, position_of(rows[-1]), False) if rows and has_next else None,
        prev=Cursor(order.name, position_of(rows[0]), True) if rows and has_prev else None,
        last=Cursor(order.name, None, True),
    )
