"""A book record's rules without HTTP or a database: folding, authors, the derived keys, the
duplicate key, history diffs, and the request schemas' field rules."""

from __future__ import annotations

import re
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from books_service.listing import SORTS
from books_service.records import (
    changes,
    complete,
    derived_keys,
    duplicate_key,
    fold,
    initial_values,
    join_authors,
    split_authors,
    words,
)
from books_service.schemas import BookFields, BookPatch, BookQuery, SortName
from common.problem_json import field_errors
from common.text import fold as fold_accents_and_case


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Exupéry", "exupery"),
        ("  SÃO   Paulo ", "sao paulo"),
        ("Søren Ørsted", "soren orsted"),
        ("Łódź", "lodz"),
        ("Straße", "strasse"),
        ("Æsop Œuvre", "aesop oeuvre"),
        ("ＦＵＬＬ width", "full width"),
        ("e\u0301", "e"),
        ("İstanbul", "istanbul"),
        ("星の王子さま", "星の王子さま"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@given(st.text())
def test_folding_twice_changes_nothing(text: str) -> None:
    assert fold(fold(text)) == fold(text)


_LETTERS_OUTSIDE_UNICODE_DECOMPOSITION = str.maketrans(
    {"ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "æ": "ae"}
    | {"Æ": "ae", "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th", "\u0131": "i", "ħ": "h", "Ħ": "h"}
)
# ASCII of every kind (punctuation, "_", control characters, the separators str.split sees as
# spaces), accented and unfoldable letters, and other scripts.
_WORDY_TEXT = (
    st.text(
        st.characters(max_codepoint=127) | st.sampled_from([*"éÉãøŁæÆœİıß\u0301\u00a0\u2028ＡＢ星"])
    )
    | st.text()
)


def _words_by_the_pattern(text: str) -> str:
    folded = fold_accents_and_case(text.translate(_LETTERS_OUTSIDE_UNICODE_DECOMPOSITION))
    assert fold(text) == folded
    return " ".join(re.split(r"[\W_]+", folded)).strip()


@given(_WORDY_TEXT)
def test_the_words_of_a_text_are_those_the_pattern_finds_in_its_folded_form(text: str) -> None:
    assert words(text) == _words_by_the_pattern(text)


@pytest.mark.parametrize("accent", ["", "é"])
def test_every_ascii_character_separates_words_as_the_pattern_says(accent: str) -> None:
    for character in map(chr, range(128)):
        text = f"{character}Ab{character}{accent}9{character}{character}c "
        assert words(text) == _words_by_the_pattern(text), repr(text)


@pytest.mark.parametrize(
    ("author", "authors"),
    [
        ("Machado de Assis", ["Machado de Assis"]),
        ("Ana; Bia & Caio", ["Ana", "Bia", "Caio"]),
        ("Neil Gaiman & Terry Pratchett", ["Neil Gaiman", "Terry Pratchett"]),
        ("Assis, Machado de", ["Assis, Machado de"]),
        ("Simon&Schuster", ["Simon&Schuster"]),
        (" ; ", [" ; "]),
    ],
)
def test_split_authors(author: str, authors: list[str]) -> None:
    assert split_authors(author) == authors


def test_join_authors_fits_the_display_string() -> None:
    assert join_authors(["A", "B"]) == "A; B"
    long = [("x" * 100)] * 5
    joined = join_authors(long)
    assert len(joined) <= 300 and joined.endswith(" et al.")


def test_complete_derives_author_and_authors_from_each_other() -> None:
    assert complete({"title": "t", "author": "A & B"})["authors"] == ["A", "B"]
    assert complete({"title": "t", "authors": ["A", "B"]})["author"] == "A; B"
    record = complete({"title": "t", "author": "X", "authors": ["Y"]})
    assert (record["author"], record["authors"]) == ("X", ["Y"])
    assert complete({"title": "t", "author": "A"})["copies"] == 1


def test_derived_keys() -> None:
    record = complete(
        {
            "title": "O Pequeno Príncipe",
            "author": "Antoine de Saint-Exupéry",
            "subtitle": "Edição Especial",
            "subjects": ["Fábula"],
            "publisher": "Agir",
            "isbn": "9780306406157",
            "published_year": 1943,
        }
    )
    keys = derived_keys(record)
    assert keys["title_key"] == "o pequeno principe"
    # Search and sort keys are words only: both search engines must split them alike.
    assert keys["author_key"] == "antoine de saint exupery"
    assert keys["publisher_key"] == "agir"
    assert keys["year_sort"] == 1943
    assert keys["search_text"] == (
        "edicao especial antoine de saint exupery fabula agir 9780306406157 0306406152"
    )
    odd = derived_keys(complete({"title": "Web 2.0: 1939–1945!", "author": "a@b.org"}))
    assert (odd["title_key"], odd["author_key"]) == ("web 2 0 1939 1945", "a b org")
    assert derived_keys(complete({"title": "t", "author": "a"}))["year_sort"] < -9999


def test_the_duplicate_key_ignores_case_accents_spacing_and_punctuation() -> None:
    key = duplicate_key("Memórias Póstumas de Brás Cubas", ["Machado de Assis"])
    assert duplicate_key("memorias  postumas, de BRAS cubas!", ["MACHADO DE ASSÍS"]) == key
    assert duplicate_key("Memórias Póstumas", ["Machado de Assis"]) != key
    assert duplicate_key("Memórias Póstumas de Brás Cubas", ["Outro"]) != key
    # the author list is ordered: "A; B" is not "B; A"
    assert duplicate_key("t", ["A", "B"]) != duplicate_key("t", ["B", "A"])


def test_changes_and_initial_values() -> None:
    before = complete({"title": "t", "author": "a", "subjects": ["x"]})
    after = {**before, "subjects": ["x", "y"], "copies": 2}
    assert changes(before, after) == {
        "subjects": {"from": ["x"], "to": ["x", "y"]},
        "copies": {"from": 1, "to": 2},
    }
    assert changes(before, before) == {}
    assert initial_values(before) == {
        "title": {"from": None, "to": "t"},
        "author": {"from": None, "to": "a"},
        "authors": {"from": None, "to": ["a"]},
        "subjects": {"from": None, "to": ["x"]},
        "copies": {"from": None, "to": 1},
    }


def errors(model: Any, data: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return field_errors(caught.value)


@pytest.mark.parametrize(
    ("language", "stored"),
    [("pt", "pt"), ("PT", "pt"), ("por", "pt"), ("fre", "fr"), ("fra", "fr"), ("tpi", "tpi")],
)
def test_languages_are_stored_as_their_shortest_code(language: str, stored: str) -> None:
    assert (
        BookFields.model_validate({"title": "t", "author": "a", "language": language}).language
        == stored
    )


@pytest.mark.parametrize("language", ["xx", "p", "port", "12", "pö", ""])
def test_unknown_languages(language: str) -> None:
    assert (
        errors(BookFields, {"title": "t", "author": "a", "language": language})[0]["field"]
        == "language"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/a.jpg",
        "http://localhost:8080/c?x=1#y",
        "HTTPS://EXAMPLE.ORG/C.PNG",
        "http://example.org:65535/a.jpg",
        "http://example.org:/a.jpg",  # an empty port is the default one (RFC 3986)
        "http://[2001:db8::1]:8080/a.jpg",
        "https://münchen.example/capa.jpg",
        "https://example.org/a%20b.jpg?x=%C3%A9",
    ],
)
def test_cover_urls_accepted(url: str) -> None:
    assert (
        BookFields.model_validate({"title": "t", "author": "a", "cover_url": url}).cover_url == url
    )


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:image/png;base64,AA",
        "/relative.jpg",
        "https:///x",
        "http://[::1",
        "https://a b",
        "http://example.org:99999/a.jpg",
        "http://example.org:0/a.jpg",
        "http://example.org:-1/a.jpg",
        "http://example.org:+80/a.jpg",
        "http://example.org:٨٠/a.jpg",
        "http://example.org:80:81/a.jpg",
        "http://a..b/a.jpg",
        "http://[not-an-address]/a.jpg",
        "http://exa<mple.org/a.jpg",
        # A browser reads "\\" as "/": it would load example.org, urllib sees evil.example.
        "http://example.org\\@evil.example/a.jpg",
        "http://user:secret@example.org/a.jpg",  # no credentials in a shown URL
        "https://example.org/a.jpg?",  # not what urllib gives back
        "https://example.org/a.jpg#",
    ],
)
def test_cover_urls_refused(url: str) -> None:
    found = errors(BookFields, {"title": "t", "author": "a", "cover_url": url})
    assert [e["field"] for e in found] == ["cover_url"]


@pytest.mark.parametrize(
    ("date", "year"),
    [
        ("1943", 1943),
        ("1943-04", 1943),
        ("2024-02-29", 2024),
        ("0001-01-01", 1),
        ("9999-12-31", 9999),
        # Year 0 is 1 BC (ISO 8601's astronomical years, as published_year counts them), and a
        # leap year in the proleptic Gregorian calendar.
        ("0000", 0),
        ("0000-02-29", 0),
    ],
)
def test_partial_dates_accepted(date: str, year: int) -> None:
    book = BookFields.model_validate({"title": "t", "author": "a", "published_date": date})
    assert (book.published_date, book.published_year) == (date, year)


@pytest.mark.parametrize(
    ("date", "message"),
    [
        ("2023-02-29", "not a real date"),
        ("1943-00", "not a real date"),
        ("1943-13", "not a real date"),
        ("0000-02-30", "not a real date"),
        ("0000-00", "not a real date"),
        ("1943-4", "YYYY"),
        ("01943", "YYYY"),
        ("1943\n", "YYYY"),
        # Only ASCII digits: other scripts' digits are digits to \d and to int(), not to ISO 8601.
        ("２０２０", "YYYY"),
        ("٢٠٢٠-٠١-٠١", "YYYY"),
        ("१९४३", "YYYY"),
        ("1943-०४", "YYYY"),
    ],
)
def test_partial_dates_refused(date: str, message: str) -> None:
    found = errors(BookFields, {"title": "t", "author": "a", "published_date": date})
    assert [e["field"] for e in found] == ["published_date"]
    assert message in found[0]["message"]


def test_copies_null_means_the_default_on_every_write() -> None:
    """As for every other field, null is "not given": PUT and POST then store the default, like
    a merge patch's null does (RFC 7396)."""
    book = BookFields.model_validate({"title": "t", "author": "a", "copies": None})
    assert book.record()["copies"] == 1
    assert BookPatch.model_validate({"copies": None}).patch() == {"copies": None}


def test_subjects_are_deduplicated_ignoring_case_and_accents() -> None:
    book = BookFields.model_validate(
        {"title": "t", "author": "a", "subjects": ["Fábula", "FABULA", "Conto"]}
    )
    assert book.subjects == ["Fábula", "Conto"]


def test_a_patch_is_only_what_was_sent_normalised() -> None:
    assert BookPatch.model_validate({"isbn": "0-306-40615-2", "publisher": None}).patch() == {
        "isbn": "9780306406157",
        "publisher": None,
    }
    assert errors(BookPatch, {"title": None})[0] == {
        "field": "title",
        "message": "cannot be removed (it is required)",
        "type": "missing",
    }


def test_query_sorts_are_the_listings_sorts() -> None:
    offered = set(get_args(SortName))
    assert offered == {name for sort in SORTS for name in (sort, f"-{sort}")} | {"relevance"}
    assert BookQuery.model_validate({"limit": "7", "author": ""}).model_dump(exclude_none=True) == {
        "limit": 7
    }
