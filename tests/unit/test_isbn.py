"""ISBN rules, with Hypothesis properties over every valid ISBN."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from books_service.isbn import (
    InvalidIsbn,
    isbn10_check_digit,
    isbn13_check_digit,
    normalise,
    to_isbn10,
    to_isbn13,
)

nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9)
valid_isbn10 = nine_digits.map(lambda body: body + isbn10_check_digit(body))
# 978, or 979 and a registration group other than 0 (979-0 numbers printed music: ISMNs).
valid_isbn13 = st.tuples(
    st.sampled_from(["978", "979"]), st.text(alphabet="0123456789", min_size=9, max_size=9)
).map(lambda parts: parts[0] + parts[1] + isbn13_check_digit(parts[0] + parts[1]))
valid_isbn13 = valid_isbn13.filter(lambda isbn: not isbn.startswith("9790"))


@given(valid_isbn10)
def test_every_isbn10_converts_to_a_valid_isbn13_and_back(isbn10: str) -> None:
    isbn13 = to_isbn13(isbn10)
    assert normalise(isbn13) == isbn13  # valid: the check digit holds
    assert to_isbn10(isbn13) == isbn10
    assert normalise(isbn10) == isbn13


@given(valid_isbn13)
def test_every_isbn13_normalises_to_itself(isbn13: str) -> None:
    assert normalise(isbn13) == isbn13
    assert (
        normalise(f"{isbn13[:3]}-{isbn13[3]}-{isbn13[4:8]} {isbn13[8:12]}-{isbn13[12]}") == isbn13
    )
    if isbn13.startswith("979"):
        assert to_isbn10(isbn13) is None


@given(valid_isbn13, st.integers(min_value=0, max_value=12), st.integers(min_value=1, max_value=9))
def test_a_changed_digit_is_caught(isbn13: str, position: int, delta: int) -> None:
    digit = (int(isbn13[position]) + delta) % 10
    altered = isbn13[:position] + str(digit) + isbn13[position + 1 :]
    with pytest.raises(InvalidIsbn):
        normalise(altered)


@pytest.mark.parametrize(
    ("given_isbn", "isbn13"),
    [
        ("0-306-40615-2", "9780306406157"),
        ("978-0-306-40615-7", "9780306406157"),
        ("080442957X", "9780804429573"),
        ("080442957x", "9780804429573"),
        ("978 85 359 0277 8", "9788535902778"),
    ],
)
def test_known_isbns(given_isbn: str, isbn13: str) -> None:
    assert normalise(given_isbn) == isbn13


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("0-306-40615-3", "check digit"),
        ("978-0-306-40615-8", "check digit"),
        ("12345", "10 or 13"),
        ("977-0-306-40615-7", "978 or 979"),
        ("03064061X2", "9 digits"),
        ("٩٧٨٠٣٠٦٤٠٦١٥٧", "13 digits"),  # Arabic-Indic digits are not ISBN digits
        # An ISMN (printed music) with a right check digit, in its forms: not a book.
        ("979-0-2600-0043-8", "979-0 is an ISMN, not an ISBN"),
        ("9790260000438", "ISMN"),
        ("9790260000437", "ISMN"),  # whatever its check digit
    ],
)
def test_bad_isbns_say_why(bad: str, message: str) -> None:
    with pytest.raises(InvalidIsbn, match=message):
        normalise(bad)


@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_no_979_0_number_is_an_isbn(rest: str) -> None:
    body = "9790" + rest
    with pytest.raises(InvalidIsbn, match="ISMN"):
        normalise(body + isbn13_check_digit(body))
