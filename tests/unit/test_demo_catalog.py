"""The demo catalog file: every line is a book the Books Service accepts, and the set looks like
a real library's (languages, series, accents, no duplicates)."""

from __future__ import annotations

from collections import Counter

import pytest

from books_service.isbn import normalise
from books_service.schemas import BookFields
from ops.demo import demo_books, isbn13, parse_catalog


def test_every_demo_book_is_a_valid_record() -> None:
    for book in demo_books():
        BookFields.model_validate(book)  # raises on any field the API would refuse


def test_the_demo_catalog_is_a_few_hundred_distinct_books_in_several_languages() -> None:
    books = demo_books()
    assert 300 <= len(books) <= 500
    keys = Counter((b["title"].casefold(), tuple(b["authors"])) for b in books)
    assert [key for key, n in keys.items() if n > 1] == []
    isbns = Counter(b["isbn"] for b in books if "isbn" in b)
    assert [isbn for isbn, n in isbns.items() if n > 1] == []
    languages = Counter(b["language"] for b in books)
    assert set(languages) >= {"pt", "en", "es", "fr", "de"}
    assert sum(1 for b in books if "series" in b) >= 50
    assert any(any(not c.isascii() for c in b["title"]) for b in books)
    assert any(len(b["authors"]) > 1 for b in books)


def test_derived_fields_are_the_same_on_every_run() -> None:
    assert demo_books() == demo_books()


def test_isbn13_makes_valid_isbns() -> None:
    assert isbn13("97885", "3590277") == "9788535902778"  # Dom Casmurro's real one
    for digits in ("0", "123456789012", "999"):
        value = isbn13("9782", digits)
        assert normalise(value) == value


@pytest.mark.parametrize(
    "text",
    ["Title | Author | 1900 | Romance", "[pt]\nTitle | Author | 1900", "[pt]\nA | B | x | C"],
)
def test_a_malformed_line_is_refused_with_its_number(text: str) -> None:
    with pytest.raises(ValueError):
        parse_catalog(text)
