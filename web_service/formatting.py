"""How values are shown: ISBNs hyphenated by the ISBN agency's ranges, language codes as
names in the reader's language, API timestamps as dates of the reader's locale."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.numbers import format_decimal
from stdnum import isbn as stdnum_isbn
from stdnum.exceptions import ValidationError

from common.languages import english_name


def hyphenate_isbn(value: str | None) -> str:
    """``9788535902778`` as ``978-85-359-0277-8`` (ISBN-10s too). A number outside the
    published ranges, or not an ISBN at all, is shown as it is."""
    if not value:
        return ""
    try:
        return str(stdnum_isbn.format(stdnum_isbn.validate(value)))
    except (ValidationError, ValueError, IndexError):
        return value


def language_name(code: str | None, locale: str) -> str:
    """``pt`` as "Portuguese" or "português"; unknown codes as they are."""
    if not code:
        return ""
    return _language_name(code, locale)


@lru_cache(maxsize=4096)
def _language_name(code: str, locale: str) -> str:
    # Cached: a catalog page names the same few languages fifty times.
    try:
        name = Locale.parse(locale).languages.get(code)
    except (UnknownLocaleError, ValueError):
        name = None
    if not name:
        name = english_name(code)
    return name[:1].upper() + name[1:] if name else code


def preload(locales: tuple[str, ...]) -> None:
    """Load what every page reads, when a worker starts rather than on its first page: babel's
    data of these locales (dates, numbers, language names: ~2.7 MB each) and the ISBN agency's
    ranges (0.5 MB). Only locales most visitors read are worth it: one nobody asks for is
    memory the worker holds for nothing."""
    moment = datetime(2000, 1, 1, tzinfo=UTC)
    for locale in locales:
        parsed = Locale.parse(locale)
        parsed.languages.get("pt")
        format_datetime(moment, "medium", locale=parsed)
        format_decimal(1234.5, locale=parsed)
    hyphenate_isbn("9780306406157")


def parse_timestamp(value: str | None) -> datetime | None:
    """An API timestamp (ISO 8601, UTC, with 'Z') as an aware datetime."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
