"""Goodreads' library export (CSV, import only).

ISBNs come wrapped as spreadsheet formulas (``="0441172717"``, an empty one ``=""``); the series
sits in the title (``Dune (Dune Chronicles, #1)``); the main author is in ``Author``, the others
comma-separated in ``Additional Authors``. Reading data (ratings, dates read, shelves' positions,
reviews, notes) is the reader's, not the catalog's, and is left out."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

from books_service.transfer import csvfile
from books_service.transfer.rows import (
    Row,
    compact,
    first_isbn,
    split_list,
    text,
    unwrap_formula,
    whole_number,
)

SIGNATURE = {"Book Id", "Title", "Author", "Exclusive Shelf"}
# Shelves every Goodreads reader has: where they are in their reading, not what a book is about.
READING_SHELVES = frozenset({"read", "to-read", "currently-reading"})
# "Title (Series, #2)", "Title (Series #2.5)"; a title's own parenthesis without "#" stays.
_SERIES = re.compile(
    r"^(?P<title>.*?\S)\s*\((?P<series>[^()#]*?),?\s*#(?P<index>[0-9]+(?:\.[0-9]+)?)\)\s*$"
)


def split_series(title: str) -> tuple[str, str | None, float | None]:
    match = _SERIES.match(title) if "#" in title else None  # no "#", no match: no search
    if not match or not match["series"].strip():
        return title, None, None
    return match["title"], match["series"].strip(), float(match["index"])


# The columns map_cells reads, in the order it takes their cells.
COLUMNS = (
    "Title",
    "Author",
    "Additional Authors",
    "Year Published",
    "Original Publication Year",
    "Number of Pages",
    "Owned Copies",
    "ISBN13",
    "ISBN",
    "Bookshelves",
    "Publisher",
    "Book Id",
)


def map_row(cell: Callable[[str], str | None]) -> tuple[dict[str, Any], str | None]:
    """A row's fields from its cells by column name (what :func:`map_cells` makes of them)."""
    return map_cells([cell(name) for name in COLUMNS])


def map_cells(cells: Sequence[str | None]) -> tuple[dict[str, Any], str | None]:
    """A row's fields and source id from the cells of :data:`COLUMNS` (None: no such column)."""
    title_, author, additional, published, original, pages_, copies_, isbn13_, isbn10_ = cells[:9]
    shelves_, publisher, book_id = cells[9:]
    title, series, index = split_series(text(title_) or "")
    authors = [a for a in [text(author)] if a]
    authors += split_list(additional, ",")
    year = whole_number("Year Published", published)
    if year is None:
        year = whole_number("Original Publication Year", original)
    pages = whole_number("Number of Pages", pages_)
    copies = whole_number("Owned Copies", copies_)
    isbn13, isbn10 = unwrap_formula(isbn13_), unwrap_formula(isbn10_)
    shelves = [s for s in split_list(shelves_, ",") if s not in READING_SHELVES]
    fields = {
        "title": title or None,
        "authors": list(dict.fromkeys(authors)),
        "isbn": first_isbn([isbn13, isbn10]) or isbn13 or isbn10,
        "publisher": text(publisher),
        "published_year": year,
        "page_count": pages or None,  # Goodreads writes 0 for unknown
        "series": series,
        "series_index": index,
        "subjects": shelves,
        "copies": copies,
    }
    return compact(fields), text(book_id)


def read(stream: BinaryIO, encoding: str, mapping: Any = None) -> Iterator[Row]:
    return csvfile.read_columns(stream, encoding, COLUMNS, map_cells, undo_formulas=False)
