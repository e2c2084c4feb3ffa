"""The one place imports check a row: the rules of ``POST /books``
(:func:`books_service.book_rules.validate_book`), so a row the API would refuse is rejected
with the same reasons.

Building the pydantic model costs more per row than everything else an import does in Python
but reading the file; the rows of a catalog file are nearly all plain (a few short texts, an
ISBN, small numbers). :func:`_plain_record` checks such a row with the very functions the model
runs (the fields' text rules, the ISBN and date checks) and builds the same record; the moment
anything is not plain or not valid, it steps aside and the model judges the row, so every
refusal and its message come from the API's own rules. A Hypothesis test holds the two paths
to the same results."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any, get_args

from pydantic_core import PydanticCustomError

from books_service import book_rules
from books_service.isbn import InvalidIsbn
from books_service.models import AUTHORS_MAX, SUBJECTS_MAX
from books_service.records import complete
from books_service.transfer.rows import normalise_isbn
from common.text import RAW_FACTOR, TextRule


class InvalidRow(ValueError):
    pass


def validate_book(fields: dict[str, Any]) -> dict[str, Any]:
    """A complete, valid record from a row's fields, or InvalidRow saying what is wrong."""
    try:
        return _plain_record(fields)
    except _NotPlain:
        pass
    try:
        return book_rules.validate_book(fields)
    except book_rules.ValidationError as error:
        raise InvalidRow("; ".join(f"{e['field']}: {e['message']}" for e in error.errors)) from None


class _NotPlain(Exception):
    """The row is not one the plain path vouches for: the model decides."""


_NOT_PLAIN = _NotPlain()


def _text_rule(annotated: Any) -> TextRule:
    """The text rule a field type of :mod:`books_service.book_rules` carries."""
    return next(arg for arg in get_args(annotated) if isinstance(arg, TextRule))


def _text(rule: TextRule) -> Callable[[Any], str]:
    """A text field's check: the rule's own normalising, its limits, any failure stepping
    aside. One line of printable ASCII (most cells) is only trimmed: the NFC form of ASCII is
    itself, it always encodes, and its only control characters are those ``isprintable``
    refuses."""
    limit, normalise = rule.max_length, rule.normalise
    absurd = limit * RAW_FACTOR
    required_line = normalise.__name__ == "_required_line"

    def check(value: Any) -> str:
        if type(value) is not str or len(value) > absurd:
            raise _NOT_PLAIN
        if required_line and value.isascii():
            value = value.strip()
            if not value or not value.isprintable():
                raise _NOT_PLAIN
        else:
            try:
                value = normalise(value)
            except PydanticCustomError:
                raise _NOT_PLAIN from None
        if len(value) > limit:
            raise _NOT_PLAIN
        return value

    return check


_title = _text(_text_rule(book_rules.Title))
_author = _text(_text_rule(book_rules.Author))
_short = _text(_text_rule(book_rules.ShortText))
_subject = _text(_text_rule(book_rules.Subject))
_description = _text(_text_rule(book_rules.Description))


def _names(check: Callable[[Any], str], least: int, most: int) -> Callable[[Any], list[str]]:
    def names(value: Any) -> list[str]:
        if type(value) is not list or not least <= len(value) <= most:
            raise _NOT_PLAIN
        return [check(item) for item in value]

    return names


def _whole(least: int, most: int) -> Callable[[Any], int]:
    def whole(value: Any) -> int:
        if type(value) is not int or not least <= value <= most:
            raise _NOT_PLAIN
        return value

    return whole


def _isbn(value: Any) -> str:
    if type(value) is not str or len(value) > 40:
        raise _NOT_PLAIN
    try:
        return normalise_isbn(value)
    except InvalidIsbn:
        raise _NOT_PLAIN from None


def _stepping_aside(check: Callable[[str], str], longest: int) -> Callable[[Any], str]:
    """A rule of book_rules that raises PydanticCustomError, stepping aside instead."""

    def guarded(value: Any) -> str:
        if type(value) is not str or len(value) > longest:
            raise _NOT_PLAIN
        try:
            return check(value)
        except PydanticCustomError:
            raise _NOT_PLAIN from None

    return guarded


def _series_index(value: Any) -> float:
    if type(value) is not float or not math.isfinite(value):
        raise _NOT_PLAIN
    if not 0 <= value <= book_rules.SERIES_INDEX_MAX:
        raise _NOT_PLAIN
    return value


def _max_length(annotated: Any) -> int:
    """The ``max_length`` a field type of :mod:`books_service.book_rules` states."""
    for arg in get_args(annotated):
        for item in getattr(arg, "metadata", ()):
            if hasattr(item, "max_length"):
                return int(item.max_length)
    raise LookupError(annotated)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "title": _title,
    "subtitle": _title,
    "authors": _names(_author, 1, AUTHORS_MAX),
    "author": _author,
    "isbn": _isbn,
    "publisher": _short,
    "published_year": _whole(book_rules.YEAR_MIN, book_rules.YEAR_MAX),
    "published_date": _stepping_aside(
        book_rules.check_partial_date, _max_length(book_rules.PartialDate)
    ),
    "language": _stepping_aside(
        lru_cache(maxsize=1024)(book_rules.normalise_language),
        _max_length(book_rules.Language),
    ),
    "page_count": _whole(1, book_rules.PAGE_COUNT_MAX),
    "subjects": _names(_subject, 0, SUBJECTS_MAX),
    "description": _description,
    "cover_url": _stepping_aside(book_rules.check_cover_url, _max_length(book_rules.CoverUrl)),
    "series": _short,
    "series_index": _series_index,
    "copies": _whole(0, book_rules.COPIES_MAX),
}
# A field the model has and this table not (a new one) makes the rows that give it step aside.
_PLAIN_FIELDS = frozenset(_CHECKS)


def _plain_record(fields: dict[str, Any]) -> dict[str, Any]:
    """What ``book_rules.validate_book(fields)`` returns, for a row whose every given field
    passes its rule (None counts as not given, as in the model); ``_NotPlain`` otherwise."""
    if not fields.keys() <= _PLAIN_FIELDS:
        raise _NOT_PLAIN
    checks = _CHECKS
    record = {
        name: None if value is None else checks[name](value) for name, value in fields.items()
    }
    if record.get("title") is None or not (record.get("author") or record.get("authors")):
        raise _NOT_PLAIN
    date, subjects = record.get("published_date"), record.get("subjects")
    if date:
        year = int(date[:4])
        if record.get("published_year") not in (None, year):
            raise _NOT_PLAIN
        record["published_year"] = year
    if subjects:
        record["subjects"] = book_rules.dedupe_subjects(subjects)
    return complete(record)  # also copies' default, 1
