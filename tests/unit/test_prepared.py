"""Statements run on the DBAPI cursor (``common.prepared``) store and read exactly what
SQLAlchemy's own execution of the same statement does, on SQLite and PostgreSQL, and fail the
way it fails."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Engine, Table, bindparam, create_engine, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from books_service.models import Book, BookCount, BookHistory
from common.prepared import Prepared
from tests.support.postgres import PostgresServer

_books = cast(Table, Book.__table__)
_history = cast(Table, BookHistory.__table__)
_counts = cast(Table, BookCount.__table__)
AT = datetime(2026, 12, 3, 5, 30, 1, 123456, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'books.db'}"
    else:
        postgres: PostgresServer = request.getfixturevalue("postgres")
        url = postgres.create_database("prepared")
    engine = create_engine(url)
    Book.metadata.create_all(engine)
    yield engine
    engine.dispose()


def book_row(title: str, **more: Any) -> dict[str, Any]:
    return {
        "title": title,
        "author": "Ana; Rui",
        "authors": ["Ana", "Rui"],
        "subjects": [],
        "series_index": 1.5,
        "version": 1,
        "created_at": AT,
        "updated_at": AT,
        "created_by": "ana",
        "updated_by": "ana",
        **more,
    }


def test_a_prepared_insert_stores_what_sqlalchemys_insert_stores(engine: Engine) -> None:
    entry = {
        "book_id": 1,
        "version": 1,
        "action": "created",
        "changed_at": AT,
        "changed_by": "ana",
        "changes": {"title": {"from": None, "to": "Dom Casmurro"}, "subjects": []},
    }
    with engine.begin() as connection:
        connection.execute(insert(_books), book_row("Dom Casmurro"))
        Prepared(insert(_history)).run(connection, entry)
        connection.execute(insert(_history), entry)
        stored = connection.execute(
            text(
                "SELECT version, action, changed_at, changed_by, changes, origin FROM book_history"
            )
        ).all()
    assert stored[0] == stored[1]  # the raw columns: the same text, JSON and timestamp


def test_a_prepared_read_gives_what_sqlalchemys_result_gives(engine: Engine) -> None:
    statement = select(*_books.c).where(_books.c.id == bindparam("b_id"))
    with engine.begin() as connection:
        book_id = (
            Prepared(insert(_books).returning(_books.c.id))
            .run(connection, book_row("Dom Casmurro", subjects=["romance"]))
            .fetchone()[0]
        )
        ours = Prepared(statement).first(connection, {"b_id": book_id})
        theirs = connection.execute(statement, {"b_id": book_id}).mappings().first()
        assert Prepared(statement).first(connection, {"b_id": book_id + 1}) is None
    assert theirs is not None and ours == dict(theirs)
    assert ours["authors"] == ["Ana", "Rui"] and ours["series_index"] == 1.5
    assert ours["created_at"].replace(tzinfo=UTC) == AT


def test_an_insert_or_update_reads_what_it_returns_and_leaves_the_statement_as_it_was(
    engine: Engine,
) -> None:
    """Run first, a statement without RETURNING leaves nothing on itself that a statement later
    derived from it with ``.returning()`` would inherit (SQLAlchemy memoizes the columns)."""
    base = update(_books).where(_books.c.id == bindparam("b_id"))
    with engine.begin() as connection:
        added = Prepared(insert(_books).returning(_books.c.id, _books.c.title))
        row = added.read_first(
            connection.dialect, book_row("Helena"), added.run(connection, book_row("Helena"))
        )
        assert row == {"id": 1, "title": "Helena"}
        assert Prepared(base).run(connection, {"b_id": 1, "title": "Helena (1876)"}).rowcount == 1
        derived = Prepared(base.returning(_books.c.version, _books.c.title))
        params = {"b_id": 1, "title": "Helena (1877)"}
        assert derived.first(connection, params) == {"version": 1, "title": "Helena (1877)"}
        assert list(base.returning(_books.c.id).cte("book").c.keys()) == ["id"]


def test_a_prepared_update_sets_only_the_columns_it_is_given(engine: Engine) -> None:
    adjust = Prepared(
        update(_counts)
        .where(_counts.c.slot == bindparam("b_slot"))
        .values(live=_counts.c.live + bindparam("b_delta"), changes=_counts.c.changes + 1)
    )
    rename = Prepared(update(_books).where(_books.c.id == bindparam("b_id")))
    with engine.begin() as connection:
        connection.execute(insert(_counts), [{"slot": 0, "live": 0, "changes": 0}])
        assert adjust.run(connection, {"b_slot": 0, "b_delta": 2}).rowcount == 1
        assert adjust.run(connection, {"b_slot": 0, "b_delta": -1}).rowcount == 1
        counted = connection.execute(select(_counts.c.live, _counts.c.changes)).one()
        connection.execute(insert(_books), book_row("Quincas Borba"))
        changed = rename.run(connection, {"b_id": 1, "title": "Quincas Borba (2.ª ed.)"})
        assert changed.rowcount == 1
        assert rename.run(connection, {"b_id": 99, "title": "nobody"}).rowcount == 0
        book = connection.execute(select(_books.c.title, _books.c.author)).one()
    assert tuple(counted) == (1, 2)
    assert tuple(book) == ("Quincas Borba (2.ª ed.)", "Ana; Rui")


def test_a_prepared_statement_fails_as_sqlalchemy_would(engine: Engine) -> None:
    statement = Prepared(insert(_counts))
    with engine.begin() as connection:
        statement.run(connection, {"slot": 0, "live": 0, "changes": 0})
        with pytest.raises(IntegrityError):  # the primary key: SQLAlchemy's error, not the driver's
            statement.run(connection, {"slot": 0, "live": 0, "changes": 0})


def test_a_prepared_statement_without_a_required_value_is_refused(engine: Engine) -> None:
    with engine.begin() as connection, pytest.raises(KeyError, match="b_slot"):
        Prepared(update(_counts).where(_counts.c.slot == bindparam("b_slot"))).run(
            connection, {"live": 1}
        )
