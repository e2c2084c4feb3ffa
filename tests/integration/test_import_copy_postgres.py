"""On PostgreSQL an import's rows go in by a binary ``COPY`` (``bulk.insert_rows``): what comes
back out must be what went in, for any text a record may hold (tabs, backslashes, newlines,
quotes, characters outside the BMP, a 1 MB description), numbers and times."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, select

from books_service.models import Book, BookHistory
from books_service.transfer import bulk
from common.db import Database
from tests.support.databases import migrated
from tests.support.postgres import PostgresServer

BOOKS = cast(Table, Book.__table__)
HISTORY = cast(Table, BookHistory.__table__)
COLUMNS = (
    "id",
    "title",
    "author",
    "authors",
    "description",
    "series_index",
    "page_count",
    "year_sort",
    "created_at",
    "updated_at",
    "created_by",
)
HISTORY_COLUMNS = ("book_id", "version", "action", "changed_at", "changed_by", "changes", "origin")
# PostgreSQL's text holds any character but NUL; surrogates are not text at all.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
ODD = st.sampled_from(["\t", "\\", "\n", "\r", "\\N", "\\.", '"', "'", "\x7f", "😀", "\u2028"])
VALUE = st.one_of(TEXT, st.lists(st.one_of(ODD, TEXT)).map("".join))
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def db(postgres: PostgresServer) -> Iterator[Database]:
    with migrated("books", postgres.create_database("imppg_copy")) as database:
        yield database


def _round_trip(db: Database, values: dict[str, Any]) -> None:
    book_id = next(_ids)
    row = {"id": book_id, **values}
    with db.transaction() as session:
        bulk.insert_books(session, BOOKS, COLUMNS, [tuple(row[c] for c in COLUMNS)], (book_id,) * 2)
        history = (book_id, 1, "created", row["created_at"], "ana", row["authors"], None)
        bulk.insert_rows(session, HISTORY, HISTORY_COLUMNS, [history], new_books={book_id})
    with db.read() as session:
        got = session.execute(
            select(*(BOOKS.c[c] for c in COLUMNS)).where(BOOKS.c.id == book_id)
        ).one()
        changes = session.scalar(select(HISTORY.c.changes).where(HISTORY.c.book_id == book_id))
    assert dict(zip(COLUMNS, got, strict=True)) == {**row, "authors": json.loads(row["authors"])}
    assert changes == json.loads(row["authors"])


@settings(max_examples=60)
@given(
    title=VALUE,
    author=VALUE,
    names=st.lists(VALUE, max_size=3),
    description=st.none() | VALUE,
    series_index=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    page_count=st.none() | st.integers(-(2**31), 2**31 - 1),
    moment=st.datetimes(timezones=st.just(UTC)),
)
def test_what_goes_in_comes_out(
    db: Database,
    title: str,
    author: str,
    names: list[str],
    description: str | None,
    series_index: float | None,
    page_count: int | None,
    moment: datetime,
) -> None:
    _round_trip(
        db,
        {
            "title": title,
            "author": author,
            "authors": bulk.json_value(names),
            "description": description,
            "series_index": series_index,
            "page_count": page_count,
            "year_sort": -32768,
            "created_at": moment,
            "updated_at": moment,
            "created_by": "ana",
        },
    )


def test_a_one_megabyte_cell_comes_out_whole(db: Database) -> None:
    moment = datetime(2026, 12, 3, 17, 45, 0, 123456, tzinfo=UTC)
    _round_trip(
        db,
        {
            "title": "Grande\tSertão\\Veredas\n",
            "author": "Guimarães Rosa",
            "authors": bulk.json_value(["Guimarães Rosa", "a\tb\\c\nd"]),
            "description": ("ç\\\t\n😀" * 200_000)[:1_000_000],
            "series_index": 2.5,
            "page_count": 600,
            "year_sort": 1956,
            "created_at": moment,
            "updated_at": moment,
            "created_by": "ana",
        },
    )
