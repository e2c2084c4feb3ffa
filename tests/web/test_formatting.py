"""How values are shown: ISBNs hyphenated by range, language names, API timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from web_service.formatting import hyphenate_isbn, language_name, parse_timestamp


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("9788535902778", "978-85-359-0277-8"),  # Brazil: 2-digit group, 3-digit publisher
        ("8535902775", "85-359-0277-5"),
        ("9780306406157", "978-0-306-40615-7"),  # English: 1-digit group
        ("0306406152", "0-306-40615-2"),
        ("9789992158104", "978-99921-58-10-4"),  # Qatar: a 5-digit group
        ("9798886450071", "979-8-88645-007-1"),  # 979-8: the United States' new prefix
        ("9791032305690", "979-10-323-0569-0"),  # 979-10: France
    ],
)
def test_isbns_are_hyphenated_where_the_agency_ranges_put_the_hyphens(
    stored: str, shown: str
) -> None:
    assert hyphenate_isbn(stored) == shown


@pytest.mark.parametrize("value", ["", None, "not an isbn", "9788535902779"])
def test_what_is_not_a_valid_isbn_is_shown_as_it_is(value: str | None) -> None:
    assert hyphenate_isbn(value) == (value or "")


def test_language_codes_are_named_in_the_readers_language() -> None:
    assert language_name("pt", "en") == "Portuguese"
    assert language_name("pt", "pt_BR") == "Português"
    assert language_name("en", "pt_BR") == "Inglês"


def test_a_language_babel_does_not_name_falls_back_to_iso_639_3_names() -> None:
    assert language_name("gub", "en") == "Guajajára"


def test_an_unknown_code_is_shown_as_it_is() -> None:
    assert language_name("qqq", "en") == "qqq"
    assert language_name(None, "en") == ""


def test_api_timestamps_are_read_as_utc() -> None:
    assert parse_timestamp("2025-01-31T12:00:00Z") == datetime(2025, 1, 31, 12, tzinfo=UTC)
    assert parse_timestamp("garbage") is None
    assert parse_timestamp(None) is None


def test_what_a_worker_preloads_is_what_its_pages_read() -> None:
    from babel import localedata

    from web_service.formatting import preload
    from web_service.i18n import SUPPORTED_LOCALES

    preload(SUPPORTED_LOCALES)
    assert {"en", "pt_BR"} <= set(localedata._cache)  # loaded before any page asks
    assert language_name("pt", "pt_BR") == "Português"
    assert hyphenate_isbn("9788535902778") == "978-85-359-0277-8"
