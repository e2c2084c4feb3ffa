"""Keyset pagination against a real (in-memory SQLite) table: every walk, forwards or
backwards, in any order and page size, meets every row exactly once and in order; cursors
survive the round trip and nothing a client sends as one can do more than a 422."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, select
from sqlalchemy.engine import Connection

from common.pagination import Cursor, InvalidCursor, Order, SortKey, read_page

metadata = MetaData()
rows_table = Table(
    "rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String),
    Column("moment", DateTime(timezone=True)),
)
ID = SortKey(rows_table.c.id, "int")
ORDERS = [
    Order("id", (ID,)),
    Order("-id", (ID,), descending=True),
    Order("name", (SortKey(rows_table.c.name, "str"), ID)),
    Order("-name", (SortKey(rows_table.c.name, "str"), ID), descending=True),
    Order("moment", (SortKey(rows_table.c.moment, "datetime"), ID)),
]


@pytest.fixture(scope="module")
def connection() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            rows_table.insert(),
            [
                # few distinct names and moments: many ties for the id to break
                {"id": i, "name": "bcaé"[i % 4] * (i % 3 + 1), "moment": start + timedelta(i % 5)}
                for i in range(1, 41)
            ],
        )
    with engine.connect() as conn:
        yield conn


def expected(connection: Connection, order: Order) -> list[int]:
    keys = [k.expression for k in order.keys]
    query = select(rows_table.c.id).order_by(*(k.desc() if order.descending else k for k in keys))
    return list(connection.execute(query).scalars())


def page(connection: Connection, order: Order, cursor: Cursor | None, limit: int) -> Any:
    return read_page(
        select(rows_table.c.id), order, cursor, limit, lambda q: connection.execute(q).all()
    )


@pytest.mark.parametrize("order", ORDERS, ids=[o.name for o in ORDERS])
@pytest.mark.parametrize("limit", [1, 3, 7, 40, 100])
def test_walks_meet_every_row_once_in_order(
    connection: Connection, order: Order, limit: int
) -> None:
    forwards, cursor = [], None
    while True:
        current = page(connection, order, cursor, limit)
        forwards += [row.id for row in current.rows]
        if current.next is None:
            break
        cursor = Cursor.decode(current.next.encode(), order)  # as a client would send it back
    assert forwards == expected(connection, order)

    backwards: list[int] = []
    cursor = current.last
    while cursor is not None:
        current = page(connection, order, cursor, limit)
        backwards = [row.id for row in current.rows] + backwards
        cursor = current.prev
    assert backwards == forwards


def test_first_and_last_pages_have_no_way_further(connection: Connection) -> None:
    first = page(connection, ORDERS[0], None, 5)
    assert first.prev is None and first.next is not None
    last = page(connection, ORDERS[0], first.last, 5)
    assert last.next is None and last.prev is not None
    assert [row.id for row in last.rows] == [36, 37, 38, 39, 40]
    everything = page(connection, ORDERS[0], None, 100)
    assert everything.next is None and everything.prev is None


@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=1), st.booleans())
def test_int_cursors_round_trip(position: list[int], backwards: bool) -> None:
    order = Order("id", (ID,))
    cursor = Cursor("id", tuple(position), backwards)
    assert Cursor.decode(cursor.encode(), order) == cursor


@given(st.text().filter(lambda s: "\x00" not in s), st.integers(1, 2**31))
def test_text_cursors_round_trip(name: str, row_id: int) -> None:
    try:
        name.encode()
    except UnicodeEncodeError:
        return  # lone surrogates cannot be stored values
    cursor = Cursor("name", (name, row_id), False)
    assert Cursor.decode(cursor.encode(), ORDERS[2]) == cursor


def test_datetime_cursors_come_back_in_utc() -> None:
    moment = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    encoded = Cursor("moment", (moment.replace(tzinfo=None), 3), True).encode()
    assert Cursor.decode(encoded, ORDERS[4]).values == (moment, 3)


def token(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "!!!",
        "a",
        token([]),
        token({"o": "id", "v": [1]}),
        token({"o": "id", "v": [1], "b": 1}),
        token({"o": "name", "v": [1], "b": False}),
        token({"o": "id", "v": [1, 2], "b": False}),
        token({"o": "id", "v": ["1"], "b": False}),
        token({"o": "id", "v": [True], "b": False}),
        token({"o": "id", "v": [1.5], "b": False}),
        token({"o": "id", "v": [2**64], "b": False}),
        token({"o": "id", "v": {"a": 1}, "b": False}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        base64.urlsafe_b64encode(b"[" * 100_000).decode()[:4096],
        "A" * 5000,
    ],
)
def test_bad_cursors_are_invalid_cursor_errors(bad: str) -> None:
    with pytest.raises(InvalidCursor) as caught:
        Cursor.decode(bad, ORDERS[0])
    assert caught.value.status == 422


@settings(max_examples=300)
@given(
    st.text(max_size=200)
    | st.binary(max_size=200).map(lambda b: base64.urlsafe_b64encode(b).decode())
)
def test_nothing_decodes_to_anything_but_a_cursor_or_invalid_cursor(raw: str) -> None:
    for order in ORDERS:
        try:
            cursor = Cursor.decode(raw, order)
        except InvalidCursor:
            continue
        assert cursor.order == order.name


# Offsets as far as ISO 8601 goes either way: the moments at the ends of what datetime can hold
# then fall outside it once turned into UTC.
offsets = st.builds(
    timezone,
    st.timedeltas(
        min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
    ),
)
hostile_datetimes = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "0001-01-01T00:00:00+23:59",
            "9999-12-31T23:59:59.999999-23:59",
            "0001-01-01",
            "9999-12-31T23:59:59",
            "2026-02-30T00:00:00Z",
            "2026-01-01T24:00:00",
            "+2026-01-01",
            "２０２６-01-01",
        ]
    ),
    st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=offsets).map(
        datetime.isoformat
    ),
    st.datetimes(min_value=datetime.min, max_value=datetime.max).map(datetime.isoformat),
    st.text(max_size=40),
)
hostile_ints = st.one_of(
    st.sampled_from([-(2**63), 2**63 - 1, 2**63, -(2**63) - 1, 2**31, -(2**31) - 1, 0]),
    st.integers(),
)
hostile_floats = st.floats(allow_nan=True, allow_infinity=True)
hostile_strings = st.text(max_size=100) | st.sampled_from(["\x00", "\ud800", "\U0010ffff" * 50])
any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=5,
)
VALUES = {
    "int": hostile_ints,
    "float": hostile_floats,
    "str": hostile_strings,
    "datetime": hostile_datetimes,
}


@st.composite
def structurally_valid_cursors(draw: st.DrawFn) -> tuple[Order, str]:
    """A cursor as the service makes them (this order's name, one value per key, a direction),
    with values a client chose: the kind each key expects, or any JSON value at all."""
    order = draw(st.sampled_from(ORDERS))
    values = [draw(VALUES[key.kind] | any_json) for key in order.keys]
    payload = {"o": order.name, "v": values, "b": draw(st.booleans())}
    return order, token(payload)


@settings(max_examples=500)
@given(structurally_valid_cursors())
@example((ORDERS[4], token({"o": "moment", "v": ["0001-01-01T00:00:00+05:00", 1], "b": False})))
@example((ORDERS[4], token({"o": "moment", "v": ["9999-12-31T23:59:59-05:00", 1], "b": True})))
def test_hostile_values_in_well_formed_cursors_are_invalid_or_usable(
    connection: Connection, case: tuple[Order, str]
) -> None:
    """Whatever values a well-formed cursor holds, it is a 422 or a page: never anything else,
    neither when decoding it nor when the database compares rows with its values."""
    order, raw = case
    try:
        cursor = Cursor.decode(raw, order)
    except InvalidCursor as error:
        assert error.status == 422
        return
    assert cursor.order == order.name and cursor.values is not None
    assert len(cursor.values) == len(order.keys)
    page(connection, order, cursor, 3)


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_moments_beyond_what_utc_can_hold_are_invalid_cursors(moment: str) -> None:
    with pytest.raises(InvalidCursor):
        Cursor.decode(token({"o": "moment", "v": [moment, 1], "b": False}), ORDERS[4])
