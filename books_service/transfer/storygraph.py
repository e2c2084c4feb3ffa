"""The StoryGraph's export (CSV, import only). ``ISBN/UID`` is an ISBN when it is one, else the
StoryGraph's own id (kept as the source id). Moods, pace, ratings, reviews, reading dates and
statuses are the reader's and are left out; ``Tags`` become subjects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from books_service.transfer import csvfile
from books_service.transfer.rows import Row, compact, first_isbn, split_list, text

SIGNATURE = {"Title", "Authors", "ISBN/UID", "Read Status"}


def map_row(cell: Callable[[str], str | None]) -> tuple[dict[str, Any], str | None]:
    uid = text(cell("ISBN/UID"))
    isbn = first_isbn([uid])
    fields = {
        "title": text(cell("Title")),
        "authors": list(dict.fromkeys(split_list(cell("Authors"), ","))),
        "isbn": isbn,
        "subjects": list(dict.fromkeys(split_list(cell("Tags"), ","))),
    }
    return compact(fields), uid


def read(stream: BinaryIO, encoding: str, mapping: Any = None) -> Iterator[Row]:
    return csvfile.read(stream, encoding, map_row, undo_formulas=False)
