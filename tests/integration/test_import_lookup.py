"""An import's lookups on SQLite pass their values as one JSON array (``bulk.in_json_array``):
they must find exactly the rows an IN list would, whatever the strings hold (quotes,
backslashes, control characters, letters outside the BMP) and however many there are."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, String, Table, delete, insert, select

from books_service.transfer import bulk
from common.db import Database

_metadata = MetaData()
_notes = Table(
    "notes",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), index=True),
    Column("gone", Integer),
)
# Text SQLite stores as it was given: any code point but a lone surrogate and NUL.
_keys = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('lookup') / 'notes.db'}")
    _metadata.create_all(database.engine)
    yield database
    database.dispose()


@settings(max_examples=40)
@given(stored=st.lists(_keys, max_size=30, unique=True), others=st.lists(_keys, max_size=30))
def test_a_lookup_finds_exactly_the_stored_values_it_is_given(
    db: Database, stored: list[str], others: list[str]
) -> None:
    with db.transaction() as session:
        session.execute(delete(_notes))
        if stored:
            rows = [{"key": key, "gone": n % 3 == 0} for n, key in enumerate(stored)]
            session.execute(insert(_notes), rows)
        wanted = sorted(set(stored[::2] + others))
        query = bulk.in_json_array(
            select(_notes.c.key), _notes.c.key, wanted, [_notes.c.gone.is_(False)]
        )
        found = sorted(session.scalars(query))
    live = {key for n, key in enumerate(stored) if n % 3 != 0}
    assert found == sorted(live & set(wanted))


def test_a_lookup_takes_more_values_than_sqlite_takes_parameters(db: Database) -> None:
    keys = [f"978{n:010d}" for n in range(40_000)]
    with db.transaction() as session:
        session.execute(delete(_notes))
        session.execute(insert(_notes), [{"key": key, "gone": 0} for key in keys[::7]])
        query = bulk.in_json_array(select(_notes.c.key), _notes.c.key, keys, [])
        assert sorted(session.scalars(query)) == keys[::7]
