"""ISBNs as people type them: any mix of hyphens, spaces and Unicode dashes is accepted, the
check digit is always verified, and no input at all can fail other than with InvalidIsbn."""

from __future__ import annotations

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

separators = st.sampled_from(["", "", "-", " ", "\u2010", "\u2013", " - "])
isbn10s = st.text(alphabet="0123456789", min_size=9, max_size=9).map(
    lambda b: b + isbn10_check_digit(b)
)
# 979-0 is not an ISBN (it is the ISMN's prefix): 979 ISBNs go on with 1 to 9.
isbn13s = st.tuples(
    st.sampled_from(["978", "979"]), st.text(alphabet="0123456789", min_size=9, max_size=9)
).map(lambda p: p[0] + p[1] + isbn13_check_digit(p[0] + p[1]))
isbn13s = isbn13s.filter(lambda isbn: not isbn.startswith("9790"))


@given(st.one_of(isbn10s, isbn13s), st.data())
def test_any_separators_anywhere(isbn: str, data: st.DataObject) -> None:
    typed = "".join(ch + data.draw(separators) for ch in isbn)
    expected = to_isbn13(isbn) if len(isbn) == 10 else isbn
    assert normalise(typed) == expected
    assert normalise(typed.lower()) == expected  # a lower-case x check digit


@given(isbn10s)
def test_isbn10_and_isbn13_name_the_same_book(isbn10: str) -> None:
    isbn13 = normalise(isbn10)
    assert isbn13.startswith("978") and to_isbn10(isbn13) == isbn10
    assert normalise(isbn13) == isbn13


@given(st.text(max_size=40))
def test_any_text_is_an_isbn_or_an_invalid_isbn(text: str) -> None:
    try:
        isbn13 = normalise(text)
    except InvalidIsbn as error:
        assert str(error)
        return
    assert len(isbn13) == 13 and isbn13.isdigit() and isbn13[:3] in ("978", "979")
    assert not isbn13.startswith("9790")
    assert isbn13_check_digit(isbn13[:12]) == isbn13[12]


@given(isbn10s, st.integers(0, 8))
def test_swapping_two_adjacent_digits_is_caught(isbn10: str, position: int) -> None:
    """What the ISBN-10 check digit was made for (weights 10..1, modulo a prime)."""
    swapped = isbn10[:position] + isbn10[position + 1] + isbn10[position] + isbn10[position + 2 :]
    if swapped != isbn10:
        try:
            normalise(swapped)
        except InvalidIsbn:
            return
        raise AssertionError(f"{swapped} (from {isbn10}) was accepted")
