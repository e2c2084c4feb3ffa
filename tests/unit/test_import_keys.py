"""An import derives each row's keys once, with cached folding of names, writes its JSON
columns without SQLAlchemy, and runs with fewer garbage collections: the results must be exactly
what the single-book write path computes and what ``json.dumps`` gives, and the collector must
be left as it was."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from books_service.records import author_keys, complete, derived_keys, subject_keys
from books_service.transfer import bulk, runner
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
