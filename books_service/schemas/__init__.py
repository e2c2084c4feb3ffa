"""The Books Service's HTTP models: what requests may carry and what responses hold. They
validate at the edge (every invalid field is a 422 naming it) and generate the OpenAPI
document. The book's own rules are not here but in :mod:`books_service.book_rules`, which the
write models are built on.

* :mod:`.writes`: request bodies (a book, a merge patch of one);
* :mod:`.requests`: query strings, path parameters and headers;
* :mod:`.output`: response bodies;
* :mod:`.examples`: the examples the OpenAPI document shows.
"""

from books_service.schemas.output import BookList, BookOut, History, HistoryEntry
from books_service.schemas.requests import (
    BookPath,
    BookQuery,
    IfMatch,
    IfNoneMatch,
    SortName,
    WriteQuery,
)
from books_service.schemas.writes import BookFields, BookIn, BookPatch

__all__ = [
    "BookFields",
    "BookIn",
    "BookList",
    "BookOut",
    "BookPatch",
    "BookPath",
    "BookQuery",
    "History",
    "HistoryEntry",
    "IfMatch",
    "IfNoneMatch",
    "SortName",
    "WriteQuery",
]
