"""Request bodies that write books: a whole book (POST, PUT) and a JSON Merge Patch of one
(PATCH). The rules are the domain's (:mod:`books_service.book_rules`); here is what is about
the request: its examples, and what a patch may say."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from books_service.book_rules import (
    COPIES_MAX,
    PAGE_COUNT_MAX,
    SERIES_INDEX_MAX,
    Author,
    BookRecord,
    CoverUrl,
    Description,
    Isbn,
    Language,
    PartialDate,
    ShortText,
    Subject,
    Title,
    Year,
)
from books_service.models import AUTHORS_MAX, SUBJECTS_MAX
from books_service.schemas.examples import NEW_BOOK_EXAMPLES, PATCH_EXAMPLES


class BookFields(BookRecord):
    """A book as a client writes it (POST, PUT). Only ``title`` and ``author`` (or ``authors``)
    are required; the spec's ``{"title", "author"}`` is a complete request. The schema lists
    ``author`` and ``authors`` as optional (client generators take that, not a choice of
    required sets); a book with neither is a 422 naming ``author``."""

    model_config = ConfigDict(json_schema_extra={"examples": NEW_BOOK_EXAMPLES})


# The spec's name for a book in a request.
BookIn = BookFields


def _never_null(schema: dict[str, Any]) -> None:
    """The schema of an optional member that may not be null: the non-null alternative alone,
    and no ``default`` (a patch that leaves the member out changes nothing)."""
    alternatives = [s for s in schema.pop("anyOf", []) if s.get("type") != "null"]
    schema.pop("default", None)
    if len(alternatives) == 1:
        schema.update(alternatives[0])


class BookPatch(BaseModel):
    """A JSON Merge Patch (RFC 7396) of a book: a field given replaces its value, ``null``
    removes it, a field left out keeps it. The patched book is then checked like a new one. A
    member that is not a field of a book is an error, as in a whole book, and so is an empty
    patch."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "minProperties": 1,
            "not": {
                "required": ["author", "authors"],
                "properties": {"author": {"type": "null"}, "authors": {"type": "null"}},
            },
            "examples": PATCH_EXAMPLES,
        },
    )

    # Never null: the title cannot be removed. (None is only "not in the patch".)
    title: Title | None = Field(None, json_schema_extra=_never_null)
    subtitle: Title | None = None
    author: Author | None = None
    authors: list[Author] | None = Field(None, min_length=1, max_length=AUTHORS_MAX)
    isbn: Isbn | None = None
    publisher: ShortText | None = None
    published_year: Year | None = None
    published_date: PartialDate | None = None
    language: Language | None = None
    page_count: int | None = Field(None, ge=1, le=PAGE_COUNT_MAX)
    subjects: list[Subject] | None = Field(None, max_length=SUBJECTS_MAX)
    description: Description | None = None
    cover_url: CoverUrl | None = None
    series: ShortText | None = None
    series_index: float | None = Field(None, ge=0, le=SERIES_INDEX_MAX, allow_inf_nan=False)
    copies: int | None = Field(None, ge=0, le=COPIES_MAX, description="null resets it to 1")

    @field_validator("title")
    @classmethod
    def _title_stays(cls, title: str | None) -> str | None:
        # Runs only when the patch names the title: null would remove it.
        if title is None:
            raise PydanticCustomError("missing", "cannot be removed (it is required)")
        return title

    @model_validator(mode="after")
    def _an_author_stays(self) -> BookPatch:
        given = self.model_fields_set
        if not given:
            raise PydanticCustomError(
                "nothing_to_change", "names nothing to change: give the fields to change"
            )
        if {"author", "authors"} <= given and self.author is None and self.authors is None:
            raise PydanticCustomError("missing", "author and authors cannot both be removed")
        return self

    def patch(self) -> dict[str, Any]:
        """The patch as sent (only the members it has), with its values normalised."""
        return self.model_dump(include=self.model_fields_set)
