"""Request and response bodies, query strings and headers of the Books Service. They validate at
the edge (every invalid field is a 422 naming it) and generate the OpenAPI document."""

from __future__ import annotations

import calendar
import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from books_service import isbn as isbn_rules
from books_service.models import (
    AUTHOR_MAX,
    AUTHORS_MAX,
    DESCRIPTION_MAX,
    SUBJECT_MAX,
    SUBJECTS_MAX,
    TEXT_MAX,
    TITLE_MAX,
    URL_MAX,
)
from books_service.pagination import MAX_CURSOR_LENGTH
from books_service.records import complete, fold
from common.openapi import NOT_BLANK, stated
from common.text import line, paragraphs, query_text

# RFC 9110's "#entity-tag": a comma-separated list (empty elements allowed) of optionally weak
# quoted tags; a quoted tag may hold commas.
_ETAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
# Each run of spaces has one place to go (after a tag, or after a comma), so a header that does
# not match fails in linear time: spaces on both sides of the comma made it exponential.
_ETAG_LIST = re.compile(rf"[ \t]*(?:{_ETAG}[ \t]*)?(?:,[ \t]*(?:{_ETAG}[ \t]*)?)*")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
YEAR_MIN, YEAR_MAX = -9999, 9999

Title = stated(line(TITLE_MAX), pattern=NOT_BLANK)
Author = stated(line(AUTHOR_MAX), pattern=NOT_BLANK)
ShortText = stated(line(TEXT_MAX), pattern=NOT_BLANK)
Subject = stated(line(SUBJECT_MAX), pattern=NOT_BLANK)
Description = paragraphs(DESCRIPTION_MAX)
# ASCII digits only: \d (and int()) also take other scripts' digits, which ISO 8601 does not.
_PARTIAL_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
# Host names as browsers take them: letters, digits, "-", "." and "_" (and any non-ASCII letters
# of an internationalised name, checked by the IDNA encoding below).
_HOST_ASCII = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")


def normalise_isbn(value: str) -> str:
    try:
        return isbn_rules.normalise(value)
    except isbn_rules.InvalidIsbn as error:
        raise PydanticCustomError(
            "isbn", "not a valid ISBN: {reason}", {"reason": str(error)}
        ) from None


def normalise_language(value: str) -> str:
    """An ISO 639-1 or ISO 639-3 code (ISO 639-2/B as used in library records too), stored as
    the two-letter code when the language has one ("por" and "POR" become "pt")."""
    code = value.strip().lower()
    language = None
    if len(code) == 2 and code.isascii() and code.isalpha():
        language = pycountry.languages.get(alpha_2=code)
    elif len(code) == 3 and code.isascii() and code.isalpha():
        language = pycountry.languages.get(alpha_3=code) or pycountry.languages.get(
            bibliographic=code
        )
    if language is None:
        raise PydanticCustomError(
            "language", "must be an ISO 639-1 (2 letters) or ISO 639-3 (3 letters) language code"
        )
    return str(getattr(language, "alpha_2", None) or language.alpha_3)


def _valid_host(host: str) -> bool:
    if ":" in host:  # an IPv6 literal: urllib has checked its brackets
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    if any(ch.isascii() and ch not in _HOST_ASCII for ch in host):
        return False
    try:
        host.encode("idna")  # empty or over-long labels ("a..b") fail here
    except UnicodeError:
        return False
    return True


def check_cover_url(value: str) -> str:
    """An absolute http or https URL with a valid host and port, that urllib gives back as it
    was sent: covers are shown in browsers, so no ``javascript:``, ``data:`` or relative URLs,
    no credentials, and nothing a browser could read differently from the check here."""
    value = value.strip()
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise PydanticCustomError("url", "must be an http or https URL without spaces")
    try:
        parts = urlsplit(value)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        valid = False
    if not valid:
        raise PydanticCustomError("url", "must be an absolute http or https URL")
    try:
        port_ok = parts.port != 0  # ValueError: not ASCII digits, or over 65535
    except ValueError:
        port_ok = False
    if not port_ok:
        raise PydanticCustomError("url", "has an invalid port (1 to 65535)")
    if "\\" in value:
        # Browsers read a backslash as "/" in http URLs: "http://a.org\@b.org/" is a.org to
        # them, b.org to urllib.
        raise PydanticCustomError("url", "must not contain backslashes")
    if "@" in parts.netloc:
        raise PydanticCustomError("url", "must not contain a user name or password")
    if not _valid_host(parts.hostname or ""):
        raise PydanticCustomError("url", "has an invalid host name")
    # The scheme is lower-cased by urlsplit; anything else that changes is not well-formed.
    if urlunsplit(parts) != parts.scheme + value[len(parts.scheme) :]:
        raise PydanticCustomError("url", "is not a well-formed URL: drop an empty '?' or '#'")
    return value


def check_partial_date(value: str) -> str:
    """YYYY, YYYY-MM or YYYY-MM-DD in ASCII digits, and a real date (no 1943-02-30) in the
    proleptic Gregorian calendar. Years are ISO 8601's, 0000 to 9999: year 0 is 1 BC, as in
    ``published_year`` (earlier years only as a ``published_year``)."""
    parts = _PARTIAL_DATE.fullmatch(value)
    if not parts:
        raise PydanticCustomError("date", "must be YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = (int(p) if p else None for p in parts.groups())
    assert year is not None  # the pattern requires it
    # Not datetime.date, which has no year 0.
    if month is not None and not 1 <= month <= 12:
        raise PydanticCustomError("date", "is not a real date")
    if day is not None and not 1 <= day <= _days_in(year, month or 1):
        raise PydanticCustomError("date", "is not a real date")
    return value


def _days_in(year: int, month: int) -> int:
    if month == 2:
        return 29 if calendar.isleap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


Isbn = Annotated[
    str, Field(max_length=40, examples=["978-85-359-0277-8"]), AfterValidator(normalise_isbn)
]
# The patterns say what the checks can be read as (what they refuse, not all of it).
Language = stated(
    Annotated[str, Field(max_length=8, examples=["pt"]), AfterValidator(normalise_language)],
    pattern=r"^\s*[A-Za-z]{2,3}\s*$",
)
CoverUrl = stated(
    Annotated[
        str,
        Field(max_length=URL_MAX, examples=["https://covers.example.org/dom-casmurro.jpg"]),
        AfterValidator(check_cover_url),
    ],
    pattern=r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+(?:[/?#]\S*)?\s*$",
)
PartialDate = stated(
    Annotated[
        str,
        Field(max_length=10, examples=["1899", "1899-05"]),
        AfterValidator(check_partial_date),
    ],
    pattern=r"^[0-9]{4}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12][0-9]|3[01]))?)?$",
)
Year = Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX)]


def _dedupe_subjects(subjects: list[str]) -> list[str]:
    """No subject twice (ignoring case and accents); the first spelling and the order kept."""
    seen: dict[str, str] = {}
    for subject in subjects:
        seen.setdefault(fold(subject), subject)
    return list(seen.values())


class BookFields(BaseModel):
    """A book as a client writes it (POST, PUT). Only ``title`` and ``author`` (or ``authors``)
    are required; the spec's ``{"title", "author"}`` is a complete request."""

    model_config = ConfigDict(
        extra="ignore",
        strict=True,
        json_schema_extra={
            # The author's check, as JSON Schema: a display string, or a list of names.
            "anyOf": [
                {"required": ["author"], "properties": {"author": {"type": "string"}}},
                {"required": ["authors"], "properties": {"authors": {"type": "array"}}},
            ],
            "examples": [
                {"title": "Dom Casmurro", "author": "Machado de Assis"},
                {
                    "title": "Dom Casmurro",
                    "authors": ["Machado de Assis"],
                    "isbn": "978-85-359-0277-8",
                    "publisher": "Companhia das Letras",
                    "published_date": "1899",
                    "language": "por",
                    "page_count": 256,
                    "subjects": ["Romance", "Literatura brasileira"],
                    "cover_url": "https://covers.example.org/dom-casmurro.jpg",
                    "copies": 2,
                },
            ],
        },
    )

    title: Title = Field(examples=["Dom Casmurro"])  # type: ignore[valid-type]
    subtitle: Title | None = None  # type: ignore[valid-type]
    # authors before author: author's check (required unless authors is given) needs it.
    authors: list[Author] | None = Field(  # type: ignore[valid-type]
        None,
        min_length=1,
        max_length=AUTHORS_MAX,
        description="Ordered names; derived from author when absent ('A; B & C' gives three)",
    )
    author: Author | None = Field(  # type: ignore[valid-type]
        None,
        validate_default=True,
        examples=["Machado de Assis"],
        description="Display string; derived from authors when absent",
    )
    isbn: Isbn | None = Field(None, description="ISBN-10 or ISBN-13; stored as the ISBN-13")
    publisher: ShortText | None = None  # type: ignore[valid-type]
    published_year: Year | None = None
    published_date: PartialDate | None = Field(
        None, description="YYYY, YYYY-MM or YYYY-MM-DD; sets published_year"
    )
    language: Language | None = Field(None, description="ISO 639-1 or ISO 639-3 code")
    page_count: int | None = Field(None, ge=1, le=100_000)
    subjects: list[Subject] | None = Field(None, max_length=SUBJECTS_MAX)  # type: ignore[valid-type]
    description: Description | None = None  # type: ignore[valid-type]
    cover_url: CoverUrl | None = Field(None, description="http or https only")
    series: ShortText | None = None  # type: ignore[valid-type]
    series_index: float | None = Field(None, ge=0, le=100_000, allow_inf_nan=False)
    # null is "not given", as for every other field (and as in a merge patch): the default.
    copies: int | None = Field(
        1, ge=0, le=1_000_000, description="How many copies the owner has (null or absent: 1)"
    )

    @field_validator("author")
    @classmethod
    def _author_or_authors(cls, author: str | None, info: ValidationInfo) -> str | None:
        if author is None and not info.data.get("authors"):
            raise PydanticCustomError("missing", "is required (or give authors)")
        return author

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
            self.subjects = _dedupe_subjects(self.subjects)
        return self

    def record(self) -> dict[str, Any]:
        """The complete record: defaults filled, author and authors derived from each other."""
        return complete(self.model_dump())


# The spec's name for a book in a request.
BookIn = BookFields


def validate_record(
    document: dict[str, Any], kept: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A whole JSON document (a patched book) as a valid record, or a 422. Fields in ``kept``
    hold the stored values the patch left alone, and are not judged again: a value stored
    under older, looser rules (a 979-0 ISBN, say) must not turn every later patch of the book
    into a 422 about a field the client never sent. Any other invalid field still is one."""
    try:
        return BookFields.model_validate(document).record()
    except ValidationError as error:
        invalid = {str(e["loc"][0]) if e["loc"] else "" for e in error.errors()}
        if not kept or not invalid <= set(kept):
            raise
    record = BookFields.model_validate(
        {k: v for k, v in document.items() if k not in invalid}
    ).record()
    return {**record, **{name: kept[name] for name in invalid}}


class BookPatch(BaseModel):
    """A JSON Merge Patch (RFC 7396) of a book: a field given replaces its value, ``null``
    removes it, a field left out keeps it. The patched book is then checked like a new one."""

    model_config = ConfigDict(
        extra="ignore",
        strict=True,
        json_schema_extra={
            "not": {
                "required": ["author", "authors"],
                "properties": {"author": {"type": "null"}, "authors": {"type": "null"}},
            },
            "examples": [{"copies": 2, "subjects": ["Romance"], "publisher": None}],
        },
    )

    # Never null: the title cannot be removed.
    title: Title | None = Field(None, json_schema_extra={"type": "string"})  # type: ignore[valid-type]
    subtitle: Title | None = None  # type: ignore[valid-type]
    author: Author | None = None  # type: ignore[valid-type]
    authors: list[Author] | None = Field(None, min_length=1, max_length=AUTHORS_MAX)  # type: ignore[valid-type]
    isbn: Isbn | None = None
    publisher: ShortText | None = None  # type: ignore[valid-type]
    published_year: Year | None = None
    published_date: PartialDate | None = None
    language: Language | None = None
    page_count: int | None = Field(None, ge=1, le=100_000)
    subjects: list[Subject] | None = Field(None, max_length=SUBJECTS_MAX)  # type: ignore[valid-type]
    description: Description | None = None  # type: ignore[valid-type]
    cover_url: CoverUrl | None = None
    series: ShortText | None = None  # type: ignore[valid-type]
    series_index: float | None = Field(None, ge=0, le=100_000, allow_inf_nan=False)
    copies: int | None = Field(None, ge=0, le=1_000_000, description="null resets it to 1")

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
        if {"author", "authors"} <= given and self.author is None and self.authors is None:
            raise PydanticCustomError("missing", "author and authors cannot both be removed")
        return self

    def patch(self) -> dict[str, Any]:
        """The patch as sent (only the members it has), with its values normalised."""
        return self.model_dump(include=self.model_fields_set)


BOOK_EXAMPLE = {
    "id": 1,
    "title": "Dom Casmurro",
    "subtitle": None,
    "author": "Machado de Assis",
    "authors": ["Machado de Assis"],
    "isbn": "9788535902778",
    "isbn_10": "8535902775",
    "publisher": "Companhia das Letras",
    "published_year": 1899,
    "published_date": "1899",
    "language": "pt",
    "page_count": 256,
    "subjects": ["Romance", "Literatura brasileira"],
    "description": "Bento Santiago tells the story of his life and of Capitu.",
    "cover_url": "https://covers.example.org/dom-casmurro.jpg",
    "series": None,
    "series_index": None,
    "copies": 1,
    "version": 1,
    "created_at": "2025-01-31T12:00:00Z",
    "created_by": "user1",
    "updated_at": "2025-01-31T12:00:00Z",
    "updated_by": "user1",
}
HISTORY_EXAMPLE = [
    {
        "version": 1,
        "action": "created",
        "changed_at": "2025-01-31T12:00:00Z",
        "changed_by": "user1",
        "changes": {
            "title": {"from": None, "to": "Dom Casmurro"},
            "author": {"from": None, "to": "Machado de Assis"},
            "authors": {"from": None, "to": ["Machado de Assis"]},
            "copies": {"from": None, "to": 1},
        },
    },
    {
        "version": 2,
        "action": "updated",
        "changed_at": "2025-02-01T09:30:00Z",
        "changed_by": "user1",
        "changes": {"copies": {"from": 1, "to": 2}},
    },
]


class BookOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [BOOK_EXAMPLE]})

    id: int
    title: str
    subtitle: str | None
    author: str
    authors: list[str]
    isbn: str | None = Field(description="ISBN-13")
    isbn_10: str | None = Field(description="The ISBN-10, when the ISBN-13 starts with 978")
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
    version: int = Field(description="1 when added, bumped by every change; the ETag names it")
    created_at: str = Field(description="UTC, ISO 8601")
    created_by: str
    updated_at: str = Field(description="UTC, ISO 8601")
    updated_by: str | None
    deleted_at: str | None = Field(None, description="Only in the administrators' views")
    deleted_by: str | None = Field(None, description="Only in the administrators' views")


class BookList(RootModel[list[BookOut]]):
    """The spec's answer to GET /books: a JSON array of books (now one page of them)."""

    model_config = ConfigDict(json_schema_extra={"examples": [[BOOK_EXAMPLE]]})


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


_REQUEST_SCHEMAS: dict[type[BaseModel], dict[str, Any]] = {}


class RequestModel(BaseModel):
    """Base of the query-string and header models. flask-openapi3 asks such a model for its
    JSON schema on every request (to see which fields are lists), which costs more than
    reading a whole page of books (about 2.5 ms); the argument-less schema, the one it asks
    for, never changes, so it is computed once per model."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:  # the OpenAPI document's form: rarely asked, left as it is
            return super().model_json_schema(*args, **kwargs)
        if cls not in _REQUEST_SCHEMAS:
            _REQUEST_SCHEMAS[cls] = super().model_json_schema()
        return _REQUEST_SCHEMAS[cls]


class PageQuery(RequestModel):
    limit: int = Field(
        DEFAULT_PAGE_SIZE,
        ge=1,
        le=MAX_PAGE_SIZE,
        description=f"Page size: {DEFAULT_PAGE_SIZE} by default, at most {MAX_PAGE_SIZE}",
    )
    cursor: str | None = Field(
        None,
        max_length=MAX_CURSOR_LENGTH,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="A position, from the Link header's URLs (opaque)",
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_means_absent(cls, data: Any) -> Any:
        """``?author=`` means no author filter, as if it were not there."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v != ""}
        return data


class BookQuery(PageQuery):
    """Paging, sorting, filtering and searching ``GET /books``. Text is matched ignoring case
    and accents."""

    sort: SortName | None = Field(  # type: ignore[valid-type]
        None,
        description="Order, '-' for descending; 'id' breaks ties. Default: relevance with q, "
        "else id (the order books were added). Books without a year sort as the oldest.",
    )
    q: query_text(200) | None = Field(  # type: ignore[valid-type]
        None,
        description="Full-text search in title, subtitle, authors, subjects, series, "
        "publisher, description and ISBN; every word must match, the last one also as a "
        "prefix (from three letters). Relevance: every word in the title, then in the title "
        "and authors, then anywhere",
    )
    author: query_text(AUTHOR_MAX) | None = Field(  # type: ignore[valid-type]
        None, description="Books by this author (the whole name)"
    )
    isbn: Isbn | None = Field(None, description="ISBN-10 or ISBN-13")
    language: Language | None = Field(None, description="ISO 639-1 or 639-3 code")
    subject: query_text(SUBJECT_MAX) | None = None  # type: ignore[valid-type]
    publisher: query_text(TEXT_MAX) | None = Field(  # type: ignore[valid-type]
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

    @field_validator("if_match")
    @classmethod
    def _entity_tags(cls, value: str | None) -> str | None:
        """RFC 9110 requires quoted entity-tags: an unquoted ``52-1`` is refused rather than
        guessed at, since a client that strips the quotes has a bug it should hear about."""
        if value is not None and value.strip(" \t") != "*" and not _ETAG_LIST.fullmatch(value):
            raise PydanticCustomError(
                "etag", 'must be * or quoted ETags as GET sent them, such as "52-1" (RFC 9110)'
            )
        return value


class IfNoneMatch(RequestModel):
    if_none_match: str | None = Field(
        None,
        alias="If-None-Match",
        max_length=8192,
        description="The ETag you have: 304 with no body if the book is unchanged",
    )


class HistoryEntry(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": HISTORY_EXAMPLE})

    version: int = Field(description="The book's version after this change")
    action: Literal["created", "updated", "deleted", "restored"]
    changed_at: str = Field(description="UTC, ISO 8601")
    changed_by: str
    changes: dict[str, dict[str, Any]] = Field(
        description='{"field": {"from": old, "to": new}} for each field that changed'
    )


class History(RootModel[list[HistoryEntry]]):
    """A book's changes, oldest first (one page of them)."""

    model_config = ConfigDict(json_schema_extra={"examples": [HISTORY_EXAMPLE]})
