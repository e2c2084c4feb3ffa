"""The export writers' page-at-a-time shortcuts write what the standard library's writers
would, for any value (the golden files in tests/integration/test_export_output.py hold whole
files; these try every character the shortcuts treat apart)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from itertools import accumulate

from hypothesis import given
from hypothesis import strategies as st

from books_service.isbn import to_isbn10
from books_service.transfer import export_writers, marc
from books_service.transfer.export import iso_time
from books_service.transfer.export_writers import (
    _directory,
    _fixed,
    _general_fields,
    _xml_page,
    csv_bytes,
    isbn_10,
)

# The characters the CSV shortcut treats apart (its separators, what csv.writer quotes) mixed
# with ordinary ones.
CELLS = st.text(alphabet=st.sampled_from(["\x00", "\x01", ",", '"', "\r", "\n", "a", "é", " "]))
ROWS = st.lists(st.lists(CELLS, min_size=2, max_size=5), max_size=6)


def standard(rows: list[list[str]], **options: object) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n", **options).writerows(rows)  # type: ignore[arg-type]
    return out.getvalue()


@given(ROWS)
def test_a_page_of_csv_is_what_the_csv_module_writes(rows: list[list[str]]) -> None:
    assert csv_bytes(rows) == standard(rows).encode()


@given(ROWS)
def test_a_page_of_csv_with_every_cell_quoted_is_what_the_csv_module_writes(
    rows: list[list[str]],
) -> None:
    assert csv_bytes(rows, quote_all=True) == standard(rows, quoting=csv.QUOTE_ALL).encode()


def test_a_page_without_separator_characters_takes_the_shortcut_and_still_quotes_cells() -> None:
    rows = [["1", 'say "hi"', "a, b", "two\r\nlines", ""], ["2", "plain", "", "x", "y"]]
    assert csv_bytes(rows) == standard(rows).encode()
    assert csv_bytes(rows) == b'1,"say ""hi""","a, b","two\r\nlines",\r\n2,plain,,x,y\r\n'


@given(st.lists(st.integers(min_value=0, max_value=12_000), min_size=1, max_size=30))
def test_a_marc_directory_is_its_fields_tags_lengths_and_starts_zero_padded(
    lengths: list[int],
) -> None:
    tags = [f"{600 + i}" for i in range(len(lengths))]
    fields = [b"x" * length for length in lengths]
    starts = list(accumulate(lengths, initial=0))
    expected = "".join(
        f"{tag}{length:04d}{start:05d}"
        for tag, length, start in zip(tags, lengths, starts[:-1], strict=True)
    )
    assert _directory(tags, fields) == expected


TEXTS = st.text(alphabet=st.sampled_from(["\x02", "\x03", "<", ">", "&", "\r", "\n", "a", "ç"]))


@given(TEXTS, TEXTS, TEXTS, st.lists(TEXTS, max_size=3), TEXTS)
def test_a_page_of_marcxml_is_what_the_general_marcxml_writer_writes_for_any_text(
    title: str, subtitle: str, publisher: str, subjects: list[str], description: str
) -> None:
    row = (7, title or "t", subtitle or None, "Ann", json.dumps(["Ann", subtitle or "Bo"]),
           "9780000000002", publisher or None, 1999, None, "pt", 120, json.dumps(subjects),
           description or None, "http://x/<c>&.jpg", title or None, 2.0, 1,
           "2024-03-01 01:00:05.012345")  # fmt: skip
    general = marc._xml_record(_general_fields(row))
    assert _xml_page([row, row]) == (general + general).encode()


@given(st.from_regex(r"97[89][0-9]{10}", fullmatch=True))
def test_the_isbn_10_of_an_export_row_is_the_one_the_isbn_module_computes(isbn: str) -> None:
    assert isbn_10(isbn) == to_isbn10(isbn)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "2024-03-01 01:00:05.012345",
                    "2025-12-31T23:59:59.000000",
                    "2026-01-02 03:04:05",
                    "2027-02-03 04:05:06.0123",
                ]
            ),
            st.none() | st.integers(min_value=-5, max_value=10_005),
            st.none() | st.sampled_from(["pt", "en", "xx", "por"]),
        ),
        max_size=8,
    ),
    st.booleans(),
)
def test_a_remembered_008_field_is_the_one_formatted_for_its_date_year_and_language(
    values: list[tuple[str, int | None, str | None]], forget: bool
) -> None:
    """The 008 fields kept by date, year and language: one asked for again (kept, or made
    anew after the memo was emptied) is always what the general writer formats."""
    for created, year, language in values * 2:
        book = {"created_at": created, "published_year": year, "language": language}
        assert _fixed(created, year, language) == marc._fixed(book)
        if forget:
            export_writers._FIXED_SEEN.clear()


def postgres_text(moment: datetime) -> str:
    """A UTC timestamp as PostgreSQL writes it in the ISO DateStyle: the fraction's trailing
    zeros dropped, no fraction on a whole second."""
    text = moment.isoformat(sep=" ", timespec="seconds")
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return f"{text}.{fraction}" if fraction else text


# Microseconds with 0, 1 to 5 and 6 digits (trailing zeros of each length), the edge years.
EDGES = [datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59), datetime(2024, 2, 29, 12, 0, 1)]


def _digits(moment: datetime, digits: int, micro: int) -> datetime:
    step = 10 ** (6 - digits)
    return moment.replace(microsecond=micro // step * step)


MOMENTS = st.datetimes(max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)) | st.builds(
    _digits, st.sampled_from(EDGES), st.integers(0, 6), st.integers(0, 999_999)
)


@given(MOMENTS)
def test_a_time_in_any_form_the_databases_write_is_the_one_get_books_writes(
    moment: datetime,
) -> None:
    """PostgreSQL's text of a time (read since to_char's fixed form was dropped), to_char's
    form and SQLite's stored text all give the time GET /books writes."""
    listed = moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    old_postgres = moment.isoformat(timespec="microseconds")  # to_char's YYYY-MM-DD"T"...US
    sqlite = moment.isoformat(sep=" ", timespec="microseconds")
    assert iso_time(postgres_text(moment)) == iso_time(old_postgres) == listed
    assert iso_time(sqlite) == listed
    assert iso_time(moment.replace(tzinfo=UTC)) == listed
