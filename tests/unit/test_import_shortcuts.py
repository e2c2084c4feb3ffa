"""The shortcuts an import takes for the common case (check digits from code points, accents
removed by a pattern, a Goodreads file's cells picked by their place, a record completed at
once) must give exactly what the general way gives, on any input: each is compared here with
that general way, written out as it was before the shortcut (or run beside it)."""

from __future__ import annotations

import csv
import io
import sys
import unicodedata
from itertools import count
from operator import mul
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from books_service.isbn import isbn10_check_digit, isbn13_check_digit
from books_service.records import (
    EDITABLE_FIELDS,
    complete,
    fold,
)
from books_service.transfer import csvfile, goodreads
from common.text import fold as fold_accents_and_case

_COMBINING = dict.fromkeys(cp for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp)))
_LETTERS = str.maketrans(
    {"ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "æ": "ae"}
    | {"Æ": "ae", "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th", "\u0131": "i", "ħ": "h", "Ħ": "h"}
)


def _isbn10_by_int(digits: str) -> str:
    total = sum(map(mul, count(10, -1), map(int, digits)))
    value = (11 - total % 11) % 11
    return "X" if value == 10 else str(value)


def _isbn13_by_int(digits: str) -> str:
    numbers = list(map(int, digits))
    return str((10 - (sum(numbers[0::2]) + 3 * sum(numbers[1::2])) % 10) % 10)


# ASCII digits (the shortcut) and other scripts' digits, which int() reads (the general way).
_DIGITS = st.text(st.sampled_from([*"0123456789", "٣", "७"]), max_size=14)


@settings(max_examples=500)
@given(_DIGITS)
def test_check_digits_from_code_points_are_those_of_the_digits_values(digits: str) -> None:
    assert isbn10_check_digit(digits) == _isbn10_by_int(digits)
    assert isbn13_check_digit(digits) == _isbn13_by_int(digits)


def _folded_by_the_dictionaries(value: str) -> str:
    if value.isascii():
        return " ".join(value.lower().split())
    stripped = unicodedata.normalize("NFKD", value.translate(_LETTERS)).translate(_COMBINING)
    return " ".join(stripped.casefold().split())


# Latin accents (precomposed and combining, U+034F the one mark of their block that is not
# combining), letters that do not decompose, marks of other blocks, other scripts.
_ACCENTED = st.text(
    st.characters(max_codepoint=0x40F)
    | st.sampled_from([*"éãøŁæıß\u0301\u0327\u034f\u0483\u05b0\u20d7\u1dc0ＡＢ星 \u00a0"])
)


@settings(max_examples=1000)
@given(_ACCENTED)
def test_folding_by_the_pattern_is_folding_by_the_dictionaries(value: str) -> None:
    assert fold(value) == _folded_by_the_dictionaries(value)
    expected = " ".join(
        unicodedata.normalize("NFKD", value).translate(_COMBINING).casefold().split()
    )
    assert fold_accents_and_case(value) == (
        " ".join(value.lower().split()) if value.isascii() else expected
    )


_CELL = st.lists(
    st.sampled_from([*'ab 1,="#()-X\n', "é", "9780441172719", "to-read", "(S, #2)"]), max_size=6
).map("".join)


@settings(max_examples=300)
@given(
    st.permutations([*goodreads.COLUMNS, "Other"])
    | st.lists(
        st.sampled_from([*goodreads.COLUMNS, "Other"]), min_size=1, max_size=14, unique=True
    ),
    st.lists(st.lists(_CELL, min_size=0, max_size=16), max_size=6),
)
def test_goodreads_cells_picked_by_place_map_as_cells_looked_up_by_name(
    header: list[str], records: list[list[str]]
) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for record in records:
        writer.writerow(record)
    data = out.getvalue().encode()
    by_name = list(csvfile.read(io.BytesIO(data), "utf-8", goodreads.map_row, undo_formulas=False))
    by_place = list(goodreads.read(io.BytesIO(data), "utf-8"))
    assert by_place == by_name


_VALUES = (
    st.none() | st.text(max_size=5) | st.integers() | st.lists(st.text(max_size=5), max_size=2)
)


def _completed(fields: dict[str, Any]) -> Any:
    try:
        return complete(fields)
    except (TypeError, AttributeError) as error:  # an author that is not text
        return type(error)


@given(st.dictionaries(st.sampled_from(EDITABLE_FIELDS), _VALUES))
def test_a_record_of_editable_fields_completes_as_one_with_a_field_to_leave_out(
    fields: dict[str, Any],
) -> None:
    # A key that is not an editable field sends complete() the general way, field by field.
    record = _completed(fields)
    assert record == _completed({**fields, "source_id": "x"})
    if isinstance(record, dict):
        assert list(record) == list(EDITABLE_FIELDS)
