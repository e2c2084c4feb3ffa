"""Query strings, path parameters and headers of the Books Service's requests."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from books_service.book_rules import Isbn, Language, Year
from books_service.models import AUTHOR_MAX, SUBJECT_MAX, TEXT_MAX
from common.etag import check_entity_tags
from common.paging import PageQuery
from common.text import query_text
from common.validation import RequestModel


class BookPath(BaseModel):
    # No range check here: an id that cannot exist is simply not found (404), not invalid.
    book_id: int


# Spelled out for the OpenAPI document; a unit test checks it matches listing.SORTS.
SortName = Literal[
    "title",
    "-title",
    "author",
    "-author",
    "published_year",
    "-published_year",
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "id",
    "-id",
    "relevance",
]


class BookQuery(PageQuery):
    """Paging, sorting, filtering and searching ``GET /books``. Text is matched ignoring case
    and accents."""

    sort: SortName | None = Field(
        None,
        description="Order, '-' for descending; 'id' breaks ties. Default: relevance with q, "
        "else id (the order books were added). Books without a year sort as the oldest.",
    )
    q: Annotated[str, query_text(200)] | None = Field(
        None,
        description="Full-text search in title, subtitle, authors, subjects, series, "
        "publisher, description and ISBN; every word must match, the last one also as a "
        "prefix (from three letters). Relevance: every word in the title, then in the title "
        "and authors, then anywhere",
    )
    author: Annotated[str, query_text(AUTHOR_MAX)] | None = Field(
        None, description="Books by this author (the whole name)"
    )
    isbn: Isbn | None = Field(None, description="ISBN-10 or ISBN-13")
    language: Language | None = Field(None, description="ISO 639-1 or 639-3 code")
    subject: Annotated[str, query_text(SUBJECT_MAX)] | None = None
    publisher: Annotated[str, query_text(TEXT_MAX)] | None = Field(
        None, description="The whole name"
    )
    year_from: Year | None = Field(None, description="published_year at least")
    year_to: Year | None = Field(None, description="published_year at most")

    @model_validator(mode="after")
    def _years_in_order(self) -> BookQuery:
        if (
            self.year_from is not None
            and self.year_to is not None
            and self.year_from > self.year_to
        ):
            raise PydanticCustomError("years", "year_from must not be after year_to")
        return self


class WriteQuery(RequestModel):
    allow_duplicate: bool = Field(
        False,
        description="Write even if a live book has the same title and author (never for the "
        "same ISBN)",
    )


class IfMatch(RequestModel):
    if_match: str | None = Field(
        None,
        alias="If-Match",
        max_length=8192,
        description="The ETag you read, quoted as sent: the change is refused (412) if the book "
        "changed since",
    )

    _entity_tags = field_validator("if_match")(check_entity_tags)


# The longest If-None-Match taken (a longer one is a 422); the book route checks it too.
MAX_IF_NONE_MATCH = 8192


class IfNoneMatch(RequestModel):
    if_none_match: str | None = Field(
        None,
        alias="If-None-Match",
        max_length=MAX_IF_NONE_MATCH,
        description="The ETag you have: 304 with no body if the book is unchanged",
    )
