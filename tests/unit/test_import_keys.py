"""An import derives each row's keys once, with cached folding of names, writes its JSON
columns without SQLAlchemy, and runs with fewer garbage collections: the results must be exactly
what the single-book write path computes and what ``json.dumps`` gives, and the collector must
be left as it was."""

from __future__ import annotations

import gc
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from books_service.records import (
    EDITABLE_FIELDS,
    LIST_FIELDS,
    author_keys,
    complete,
    derived_keys,
    initial_values,
    subject_keys,
)
from books_service.transfer import bulk, rows, runner
from books_service.transfer.keys import keys

# Letters that fold in interesting ways (accents, ligatures, wide forms, dotless i), spaces,
# punctuation and separators, so the caches see names that differ only by case or accents.
_ALPHABET = st.sampled_from([*"abcAB ÆæøØłŁđþßİıé\u0301ＡＢ  ,.;&-_'\t\n", "Søren", "São", "Œuvre"])
_text = st.lists(_ALPHABET, min_size=1, max_size=12).map("".join)
_name = st.sampled_from(["Ana Silva", "ANA  SILVA", "Ána Sílva", "Søren K", "soren k"]) | _text
_isbn = st.sampled_from([None, "9780441172719", "9791032305690", "9780306406157"])


@st.composite
def records(draw: Any) -> dict[str, Any]:
    authors = draw(st.lists(_name, max_size=3))
    author = draw(st.none() | _name) if authors else draw(_name)
    fields = {
        "title": draw(_text),
        "subtitle": draw(st.none() | _text),
        "author": author,
        "authors": authors,
        "isbn": draw(_isbn),
        "publisher": draw(st.none() | _name),
        "published_year": draw(st.none() | st.integers(-2000, 2100)),
        "subjects": draw(st.lists(_name, max_size=3)),
        "description": draw(st.none() | _text),
        "series": draw(st.none() | _text),
    }
    return complete(fields)


@settings(max_examples=400)
@given(records())
def test_an_imported_rows_keys_are_those_of_the_single_book_write_path(
    record: dict[str, Any],
) -> None:
    derived = keys(record)
    assert derived.columns == derived_keys(record)
    assert derived.authors == author_keys(record)
    assert derived.subjects == subject_keys(record)


def test_the_same_name_in_another_case_or_accent_is_not_served_from_the_cache_unchanged() -> None:
    first = keys(complete({"title": "A", "author": "Ána Sílva", "subjects": ["Søren"]}))
    second = keys(complete({"title": "A", "author": "ANA SILVA", "subjects": ["SOREN"]}))
    assert first.authors == second.authors == {"ana silva"}
    assert first.subjects == second.subjects == {"soren"}
    other = keys(complete({"title": "A", "author": "Ana Silveira"}))
    assert other.authors == {"ana silveira"}
    assert other.columns["duplicate_key"] != first.columns["duplicate_key"]


@given(st.integers(1, 2**31 - 1), st.text(), st.integers(1, 10**7))
def test_a_history_entrys_origin_is_the_json_of_its_import_file_and_row(
    job: int, filename: str, row: int
) -> None:
    expected = json.dumps({"import": job, "file": filename, "row": row})
    assert bulk.origin_json(job, filename, row) == expected


def test_a_job_gives_the_garbage_collector_back_as_it_found_it_even_when_it_fails() -> None:
    threshold = gc.get_threshold()
    with pytest.raises(RuntimeError), runner._fewer_collections():
        assert gc.get_threshold()[0] > threshold[0]
        assert gc.get_freeze_count() > 0
        raise RuntimeError("the job failed")
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0


_json_scalars = (
    st.none()
    | st.text()
    | st.integers()
    | st.floats()
    | st.booleans()
    | st.lists(st.text(), max_size=3)
    | st.lists(st.integers() | st.text(), max_size=3)
)


@given(st.lists(st.text(), max_size=4) | _json_scalars)
def test_a_json_column_is_what_json_dumps_writes(value: Any) -> None:
    assert bulk.json_value(value) == json.dumps(value)


_cells = st.text(st.sampled_from([*'0123456789,=" \n\t-+.aX٣', "\u00a0"]), max_size=12)


def _reference_whole_number(value: str) -> int | str | None:
    stripped = value.strip() or None
    if stripped is None:
        return None
    if re.fullmatch(r"[0-9]{1,3}(,[0-9]{3})+", stripped):
        stripped = stripped.replace(",", "")
    return int(stripped) if re.fullmatch(r"[+-]?[0-9]+", stripped) else "refused"


@settings(max_examples=500)
@given(_cells, st.sampled_from([",", ";", ",;", "|&"]))
def test_cells_read_by_the_shortcuts_as_by_the_patterns(cell: str, separators: str) -> None:
    try:
        number: int | str | None = rows.whole_number("n", cell)
    except rows.CellError:
        number = "refused"
    assert number == _reference_whole_number(cell)
    stripped = cell.strip() or None
    wrapped = re.match(r'^="(.*)"$', stripped, re.DOTALL) if stripped else None
    expected = (wrapped[1].strip() or None) if wrapped else stripped
    assert rows.unwrap_formula(cell) == expected
    pattern = "|".join(re.escape(s) for s in separators)
    items = [i.strip() for i in re.split(pattern, stripped) if i.strip()] if stripped else []
    assert rows.split_list(cell, separators) == items


@settings(max_examples=400)
@given(records(), st.dictionaries(st.sampled_from(["page_count", "series_index"]), _json_scalars))
def test_a_new_books_row_values_and_history_entry_are_the_json_of_its_fields(
    record: dict[str, Any], more: dict[str, Any]
) -> None:
    record = {**record, **more}
    values, history = bulk.created(tuple(record[name] for name in EDITABLE_FIELDS))
    assert values == [
        json.dumps(record[name]) if name in LIST_FIELDS else record[name]
        for name in EDITABLE_FIELDS
    ]
    assert history == bulk.created_json(record) == json.dumps(initial_values(record))
