"""Request and response bodies of the Books Service (they also generate its OpenAPI document)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    model_validator,
)
from pydantic_core import PydanticCustomError

from books_service import isbn as isbn_rules
from books_service.models import (
    AUTHOR_MAX,
    DESCRIPTION_MAX,
    SUBJECT_MAX,
    TEXT_MAX,
    TITLE_MAX,
    URL_MAX,
)
from books_service.records import complete_authors, join_authors
from common.text import line, paragraphs

Title = line(TITLE_MAX)
Author = line(AUTHOR_MAX)
Text300 = line(TEXT_MAX)
Subject = line(SUBJECT_MAX)
Description = paragraphs(DESCRIPTION_MAX)
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01]))?)?$")


def _isbn(value: str) -> str:
    try:
        return isbn_rules.normalise(value)
    except isbn_rules.InvalidIsbn as error:
        raise PydanticCustomError("isbn", "{reason}", {"reason": str(error)}) from None


def _language(value: str) -> str:
    code = value.strip().lower()
    known = (len(code) == 2 and pycountry.languages.get(alpha_2=code)) or (
        len(code) == 3 and pycountry.languages.get(alpha_3=code)
    )
    if not known:
        raise PydanticCustomError(
            "language", "must be an ISO 639-1 (2 letters) or ISO 639-3 (3 letters) language code"
        )
    return code


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", value, re.IGNORECASE):
        raise PydanticCustomError("url", "must be an http or https URL")
    return value


Isbn = Annotated[str, Field(max_length=40, examples=["978-85-359-0277-8"]), AfterValidator(_isbn)]
Language = Annotated[str, Field(max_length=3, examples=["pt"]), AfterValidator(_language)]
CoverUrl = Annotated[str, Field(max_length=URL_MAX), AfterValidator(_http_url)]
PartialDate = Annotated[str, Field(pattern=_PARTIAL_DATE.pattern, examples=["1899", "1899-05"])]


class BookFields(BaseModel):
    """What a client may write about a book. Only ``title`` and ``author`` (or ``authors``) are
    required; everything else is optional."""

    model_config = ConfigDict(extra="ignore", strict=True)

    title: Title = Field(examples=["Novo Livro"])  # type: ignore[valid-type]
    subtitle: Title | None = None  # type: ignore[valid-type]
    author: Author = Field(  # type: ignore[valid-type]
        examples=["Autor Desconhecido"], description="Display string; from authors if absent"
    )
    authors: list[Author] | None = Field(  # type: ignore[valid-type]
        None, max_length=50, description="Ordered names; from author if absent"
    )
    isbn: Isbn | None = Field(None, description="ISBN-10 or ISBN-13; stored as ISBN-13")
    publisher: Text300 | None = None  # type: ignore[valid-type]
    published_year: int | None = Field(None, ge=-3000, le=3000)
    published_date: PartialDate | None = Field(None, description="YYYY, YYYY-MM or YYYY-MM-DD")
    language: Language | None = Field(None, description="ISO 639-1 or 639-3 code")
    page_count: int | None = Field(None, ge=1, le=100_000)
    subjects: list[Subject] | None = Field(None, max_length=50)  # type: ignore[valid-type]
    description: Description | None = None  # type: ignore[valid-type]
    cover_url: CoverUrl | None = None
    series: Text300 | None = None  # type: ignore[valid-type]
    series_index: float | None = Field(None, ge=0, le=100_000)
    copies: int = Field(1, ge=0, le=1_000_000, description="How many copies the owner has")

    @model_validator(mode="before")
    @classmethod
    def _author_from_authors(cls, data: Any) -> Any:
        # "authors" alone stands for "author" too: the display string is derived from it.
        if isinstance(data, dict) and data.get("author") is None:
            authors = data.get("authors")
            if isinstance(authors, list) and authors and all(isinstance(a, str) for a in authors):
                data = {**data, "author": join_authors(a.strip() for a in authors)}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> BookFields:
        if self.published_date:
            year = int(self.published_date[:4])
            if self.published_year is not None and self.published_year != year:
                raise PydanticCustomError(
                    "published", "published_year and published_date name different years"
                )
            self.published_year = year
        if self.subjects:
            self.subjects = list(dict.fromkeys(self.subjects))  # no repeats, order kept
        return self

    def record(self) -> dict[str, Any]:
        return complete_authors(self.model_dump())


class BookPatch(BaseModel):
    """A JSON Merge Patch (RFC 7396): a field given replaces, ``null`` removes, absent keeps."""

    model_config = ConfigDict(extra="allow")


class BookOut(BaseModel):
    id: int
    title: str
    subtitle: str | None
    author: str
    authors: list[str]
    isbn: str | None = Field(description="ISBN-13")
    isbn_10: str | None
    publisher: str | None
    published_year: int | None
    published_date: str | None
    language: str | None
    page_count: int | None
    subjects: list[str]
    description: str | None
    cover_url: str | None
    series: str | None
    series_index: float | None
    copies: int
    version: int = Field(description="Bumped on every change; the ETag names it")
    created_at: str = Field(description="UTC, ISO 8601")
    created_by: str
    updated_at: str = Field(description="UTC, ISO 8601")
    updated_by: str | None
    deleted_at: str | None = Field(None, description="Only in the administrators' deleted list")


class BookList(RootModel[list[BookOut]]):
    """The spec's answer to GET /books: a JSON array of books (one page of them)."""


class BookPath(BaseModel):
    # No range check here: an id that cannot exist is simply not found (404), not invalid.
    book_id: int


SortKey = Literal[
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


class BookQuery(BaseModel):
    """Paging, sorting, filtering and searching ``GET /books``."""

    limit: int = Field(50, ge=1, le=500, description="Page size (default 50, at most 500)")
    cursor: str | None = Field(None, max_length=2000, description="From a Link header")
    sort: SortKey | None = Field(
        None, description="Default: relevance with q, else id. 'id' breaks ties."
    )
    q: str | None = Field(None, max_length=200, description="Full-text search, prefix matching")
    author: str | None = Field(None, max_length=AUTHOR_MAX, description="Author contains")
    isbn: str | None = Field(None, max_length=40)
    language: str | None = Field(None, max_length=3)
    subject: str | None = Field(None, max_length=SUBJECT_MAX)
    publisher: str | None = Field(None, max_length=TEXT_MAX)
    year_from: int | None = Field(None, ge=-3000, le=3000)
    year_to: int | None = Field(None, ge=-3000, le=3000)


class CreateQuery(BaseModel):
    allow_duplicate: bool = Field(
        False, description="Add even if a book with the same title and author exists"
    )


class HistoryEntry(BaseModel):
    version: int
    action: Literal["created", "updated", "deleted", "restored"]
    changed_at: str
    changed_by: str
    changes: dict[str, dict[str, Any]]


class History(RootModel[list[HistoryEntry]]):
    """Every change to the book, oldest first."""


# Kept for the spec's minimal request in the documentation.
BookIn = BookFields
