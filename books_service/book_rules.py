"""What makes a book record valid: the value rules of each field (ISBN, language, cover URL,
partial date, text limits), the rules between fields (an author or authors, the year of the
date, subjects without repeats), and the completed record a write stores.

Domain code: no Flask and no HTTP. The catalog validates every record it writes here, once, and
a bulk importer calls :func:`validate_book` on each row for the very rules the API applies.
The HTTP request models (:mod:`books_service.schemas`) are built on :class:`BookRecord`, so a
field's rule is written once and its OpenAPI schema follows from it.
"""

from __future__ import annotations

import calendar
import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, NewType
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
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
from books_service.records import complete, fold
from common.errors import ApiError
from common.languages import shortest_code
from common.text import line, paragraphs
from common.validation import NOT_BLANK, field_errors, stated

YEAR_MIN, YEAR_MAX = -9999, 9999
PAGE_COUNT_MAX = 100_000
SERIES_INDEX_MAX = 100_000
COPIES_MAX = 1_000_000

# A complete, valid record: every editable field present, derived fields filled. Only
# :func:`validate_book`, :func:`validate_document` and :meth:`BookRecord.record` make one, and
# the catalog writes nothing else.
Record = NewType("Record", dict[str, Any])


class ValidationError(ApiError):
    """A book that breaks the rules: ``errors`` has one ``{"field", "message", "type"}`` per
    problem (``field`` is a dotted path such as ``authors.2``). Rendered as the usual 422."""

    status = 422
    type = "/problems/validation-error"
    title = "Invalid request"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(f"The book has invalid fields: {summary}", errors=errors)
        self.errors = errors


# --- The value rules -------------------------------------------------------------------------

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
    shortest = shortest_code(code) if code.isascii() and code.isalpha() else None
    if shortest is None:
        raise PydanticCustomError(
            "language", "must be an ISO 639-1 (2 letters) or ISO 639-3 (3 letters) language code"
        )
    return shortest


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


def dedupe_subjects(subjects: list[str]) -> list[str]:
    """No subject twice (ignoring case and accents); the first spelling and the order kept."""
    seen: dict[str, str] = {}
    for subject in subjects:
        seen.setdefault(fold(subject), subject)
    return list(seen.values())


# --- The field types -------------------------------------------------------------------------
# The patterns say, in the schema, what the checks can be read as (what they refuse, not all).

Title = Annotated[str, line(TITLE_MAX), stated(pattern=NOT_BLANK)]
Author = Annotated[str, line(AUTHOR_MAX), stated(pattern=NOT_BLANK)]
ShortText = Annotated[str, line(TEXT_MAX), stated(pattern=NOT_BLANK)]
Subject = Annotated[str, line(SUBJECT_MAX), stated(pattern=NOT_BLANK)]
Description = Annotated[str, paragraphs(DESCRIPTION_MAX)]
Isbn = Annotated[
    str, Field(max_length=40, examples=["978-85-359-0277-8"]), AfterValidator(normalise_isbn)
]
Language = Annotated[
    str,
    Field(max_length=8, examples=["pt"]),
    AfterValidator(normalise_language),
    stated(pattern=r"^\s*[A-Za-z]{2,3}\s*$"),
]
CoverUrl = Annotated[
    str,
    Field(max_length=URL_MAX, examples=["https://covers.example.org/dom-casmurro.jpg"]),
    AfterValidator(check_cover_url),
    stated(pattern=r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+(?:[/?#]\S*)?\s*$"),
]
PartialDate = Annotated[
    str,
    Field(max_length=10, examples=["1899", "1899-05"]),
    AfterValidator(check_partial_date),
    stated(pattern=r"^[0-9]{4}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12][0-9]|3[01]))?)?$"),
]
Year = Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX)]


# --- A whole record --------------------------------------------------------------------------


class BookRecord(BaseModel):
    """A book as a client writes it (POST, PUT). Only ``title`` and ``author`` (or ``authors``)
    are required; the spec's ``{"title", "author"}`` is a complete request."""

    # A member that is not a field ("titel") is an error naming it, never silently dropped.
    model_config = ConfigDict(extra="forbid", strict=True)

    title: Title = Field(examples=["Dom Casmurro"])
    subtitle: Title | None = None
    # authors before author: author's check (required unless authors is given) needs it.
    authors: list[Author] | None = Field(
        None,
        min_length=1,
        max_length=AUTHORS_MAX,
        description="Ordered names; derived from author when absent ('A; B & C' gives three). "
        "Required unless author is given",
    )
    author: Author | None = Field(
        None,
        validate_default=True,
        examples=["Machado de Assis"],
        description="Display string; derived from authors when absent. Required unless authors "
        "is given",
    )
    isbn: Isbn | None = Field(None, description="ISBN-10 or ISBN-13; stored as the ISBN-13")
    publisher: ShortText | None = None
    published_year: Year | None = None
    published_date: PartialDate | None = Field(
        None, description="YYYY, YYYY-MM or YYYY-MM-DD; sets published_year"
    )
    language: Language | None = Field(None, description="ISO 639-1 or ISO 639-3 code")
    page_count: int | None = Field(None, ge=1, le=PAGE_COUNT_MAX)
    subjects: list[Subject] | None = Field(None, max_length=SUBJECTS_MAX)
    description: Description | None = None
    cover_url: CoverUrl | None = Field(None, description="http or https only")
    series: ShortText | None = None
    series_index: float | None = Field(None, ge=0, le=SERIES_INDEX_MAX, allow_inf_nan=False)
    # null is "not given", as for every other field (and as in a merge patch): the default.
    copies: int | None = Field(
        1, ge=0, le=COPIES_MAX, description="How many copies the owner has (null or absent: 1)"
    )

    @field_validator("author")
    @classmethod
    def _author_or_authors(cls, author: str | None, info: ValidationInfo) -> str | None:
        # An invalid authors list is missing from info.data: its own error says enough.
        if author is None and "authors" in info.data and not info.data["authors"]:
            raise PydanticCustomError("missing", "is required (or give authors)")
        return author

    @model_validator(mode="after")
    def _consistent(self) -> BookRecord:
        if self.published_date:
            year = int(self.published_date[:4])
            if self.published_year is not None and self.published_year != year:
                raise PydanticCustomError(
                    "published", "published_year and published_date name different years"
                )
            self.published_year = year
        if self.subjects:
            self.subjects = dedupe_subjects(self.subjects)
        return self

    def record(self) -> Record:
        """The complete record: defaults filled, author and authors derived from each other."""
        return Record(complete(self.model_dump()))


def _parse(data: Mapping[str, Any]) -> BookRecord:
    try:
        return BookRecord.model_validate(data)
    except PydanticValidationError as error:
        raise ValidationError(field_errors(error)) from None


def validate_book(data: Mapping[str, Any]) -> Record:
    """``data`` (a JSON object's members) as a complete, valid record, or ValidationError naming
    every invalid field. The rules of ``POST /books``: for a bulk import without HTTP."""
    return _parse(data).record()


def validate_document(document: Mapping[str, Any], kept: Mapping[str, Any] | None = None) -> Record:
    """A whole document (a patched book) as a valid record, or ValidationError. Fields in
    ``kept`` hold the stored values a patch left alone, and are not judged again: a value stored
    under older, looser rules (a 979-0 ISBN, say) must not turn every later patch of the book
    into an error about a field the client never sent. Any other invalid field still is one."""
    try:
        return validate_book(document)
    except ValidationError as error:
        invalid = {e["field"].partition(".")[0] for e in error.errors}
        if not kept or not invalid <= set(kept):
            raise
    record = validate_book({k: v for k, v in document.items() if k not in invalid})
    return Record({**record, **{name: kept[name] for name in invalid}})
