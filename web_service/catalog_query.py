"""The catalog page's query string: what the reader typed, checked and passed to the Books
Service's ``GET /books``. The page's own URL carries the same names, so a search can be shared,
bookmarked and gone back to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

PAGE_SIZE = 50
TEXT_FILTERS = ("q", "author", "subject", "language", "publisher")
YEAR_FILTERS = ("year_from", "year_to")
SORTS = (
    "relevance",
    "title",
    "-title",
    "author",
    "-author",
    "-published_year",
    "published_year",
    "-created_at",
    "-updated_at",
)
MAX_TEXT = 300
MAX_SEARCH = 200  # the Books Service's limit for q


@dataclass
class CatalogQuery:
    values: dict[str, str] = field(default_factory=dict)  # as typed, for the form
    cursor: str | None = None
    errors: dict[str, str] = field(default_factory=dict)  # field: message id

    def api_params(self) -> dict[str, str | int]:
        params: dict[str, str | int] = {k: v for k, v in self.values.items() if k != "sort"}
        for name in YEAR_FILTERS:
            if name in params:
                params[name] = int(params[name])
        sort = self.values.get("sort")
        if sort and not (sort == "relevance" and "q" not in self.values):
            params["sort"] = sort
        if self.cursor:
            params["cursor"] = self.cursor
        params["limit"] = PAGE_SIZE
        return params

    def url_args(self, cursor: str | None = None) -> dict[str, str]:
        """The page's query string for this search, at ``cursor`` (None: the first page)."""
        return {**self.values, **({"cursor": cursor} if cursor else {})}

    @property
    def filters_open(self) -> bool:
        """Whether a filter or an order beyond the search words is set (the form shows them)."""
        return any(name != "q" for name in self.values) or bool(self.errors)

    @property
    def filtered(self) -> bool:
        return any(name in self.values for name in (*TEXT_FILTERS, *YEAR_FILTERS))


def parse_catalog_query(args: Mapping[str, str]) -> CatalogQuery:
    # The first value of each name, looked up once (a MultiDict raises a KeyError inside for
    # each name it lacks).
    args = dict(args.items())
    query = CatalogQuery()
    for name in (*TEXT_FILTERS, *YEAR_FILTERS, "sort"):
        limit = MAX_SEARCH if name == "q" else MAX_TEXT
        value = " ".join(str(args.get(name, "")).split())[:limit]
        if value:
            query.values[name] = value
    for name in YEAR_FILTERS:
        year = query.values.get(name)
        if year is not None:
            digits = year.removeprefix("-")
            if not (digits.isascii() and digits.isdigit() and len(digits) <= 4):
                query.errors[name] = "year"
                del query.values[name]
    if query.values.get("sort") not in (None, *SORTS):
        query.errors["sort"] = "sort"
        del query.values["sort"]
    cursor = str(args.get("cursor", ""))
    if cursor and len(cursor) <= 2000 and all(c.isalnum() or c in "-_" for c in cursor):
        query.cursor = cursor
    return query
