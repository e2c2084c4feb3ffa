"""An import checks a plain row without building the API's pydantic model: whatever a row is,
the import must accept exactly what ``POST /books``'s rules accept, with the same record, and
refuse the rest with the same reasons."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from books_service import book_rules
from books_service.models import AUTHOR_MAX, TITLE_MAX
from books_service.transfer import rules
from books_service.transfer.rules import InvalidRow, validate_book

# Text near every edge of the text rules: spaces to trim, control characters (inside and at the
# ends), accents composed and decomposed, a lone surrogate, NUL, non-ASCII spaces.
_PIECES = [*"aZ9 .,;&-'", "\t", "\n", "\r", "\x00", "\x1f", "\x7f", "\x85", "\u00a0", "\u2003"]
_PIECES += ["é", "e\u0301", "\ud800", "Søren", "ＡＢ", "ı", "  ", "Dom Casmurro"]
_text = st.lists(st.sampled_from(_PIECES), max_size=8).map("".join)
# Lengths either side of each limit (100, 300, 500, 10,000, and four times them, the raw limit).
_LIMITS = [100, 300, 500, 400, 1200, 2000, 10_000, 40_000]
_long = st.builds(
    lambda n, d, pad: " " * pad + "a" * (n + d) + " " * pad,
    st.sampled_from(_LIMITS),
    st.integers(-1, 1),
    st.sampled_from([0, 1, 3]),
)
# Short enough once trimmed, too long as sent: refused before any trimming.
_padded = st.builds(
    lambda n, d: "a" + " " * (n * 4 - 1 + d), st.sampled_from([100, 300, 500]), st.integers(-1, 1)
)
# Control characters inside a line of ASCII (trimmed at its ends, refused inside).
_controlled = st.builds(
    "{}{}{}".format,
    st.sampled_from(["a", " Dune"]),
    st.sampled_from(["\x00", "\x1f", "\x7f", "\t", "\n", "\r", "\x0b"]),
    st.sampled_from(["b", " x ", ""]),
)
_text_like = (
    _text
    | _controlled
    | _long
    | _padded
    | st.none()
    | st.integers()
    | st.booleans()
    | st.just(["a"])
)
_ISBNS = ["9780441172719", "0441172717", "0-441-17271-7", "978-0-441-17271-9 ", "9790123456785"]
_ISBNS += ["9791032305690", "044117271X", "123", "97804411727190", "978044117271٩", "x" * 41]
_ISBNS += ["9780441172719" + " " * 27, "9780441172719" + " " * 28]  # 40 and 41 characters
_isbns = st.sampled_from(_ISBNS)
_numbers = (
    st.integers(-12000, 12000)
    | st.sampled_from([0, 1, 100_000, 100_001, 1_000_000, 1_000_001, True, False])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.none()
    | st.text(max_size=3)
)
_lists = (
    st.lists(_text, max_size=4)
    | st.integers(49, 51).map(lambda n: [f"n{i}" for i in range(n)])
    | _text_like
)
_languages = st.sampled_from(["pt", "POR", " en ", "fre", "xx", "p", "english", "ptt", "zz9"])
_dates = st.sampled_from(["1899", "1899-05", "1899-05-31", "1899-02-30", "0000", "18990", "99"])
_urls = st.sampled_from(["https://example.org/c.jpg", "javascript:x", "http://a b", "http://x:0"])


@st.composite
def plain_rows(draw: st.DrawFn) -> dict[str, Any]:
    """Rows as a catalog file mostly has them: mostly valid, now and then at an edge."""
    name = st.sampled_from(["Ana Silva", " Inês Sá ", "Machado de Assis", "João  Ribeiro"])
    fields: dict[str, Any] = {"title": draw(st.sampled_from(["Dune", " O Alienista", "Ça"]))}
    fields["authors"] = draw(st.lists(name, min_size=1, max_size=3))
    fields["isbn"] = draw(st.none() | _isbns)
    fields["published_year"] = draw(st.none() | st.integers(-10000, 10000))
    fields["page_count"] = draw(st.none() | st.integers(0, 100_001))
    fields["subjects"] = draw(st.lists(st.sampled_from(["Fiction", "fiction", "Ficção", "SF"])))
    fields["series_index"] = draw(st.none() | st.floats(-1, 100_001))
    fields["copies"] = draw(st.none() | st.integers(-1, 1_000_001))
    return {k: v for k, v in fields.items() if v is not None or draw(st.booleans())}


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    """A plain row with one to three fields as a reader gives them, or as nobody should."""
    fields = draw(plain_rows())
    options: dict[str, st.SearchStrategy[Any]] = {
        "title": _text_like,
        "subtitle": _text_like,
        "author": _text_like,
        "authors": _lists,
        "isbn": _isbns | _text_like,
        "publisher": _text_like,
        "published_year": _numbers,
        "published_date": _dates | _text_like,
        "language": _languages | _text_like,
        "page_count": _numbers,
        "subjects": _lists,
        "description": _text_like,
        "cover_url": _urls | _text_like,
        "series": _text_like,
        "series_index": _numbers,
        "copies": _numbers,
        "titel": st.just("a typo"),
    }
    for name in draw(st.lists(st.sampled_from(list(options)), min_size=1, max_size=3)):
        if draw(st.integers(0, 5)) == 0:
            fields.pop(name, None)
        else:
            fields[name] = draw(options[name])
    return fields


def _by_the_api(fields: dict[str, Any]) -> dict[str, Any] | str:
    try:
        return dict(book_rules.validate_book(fields))
    except book_rules.ValidationError as error:
        return "; ".join(f"{e['field']}: {e['message']}" for e in error.errors)


def _by_the_import(fields: dict[str, Any]) -> dict[str, Any] | str:
    try:
        return validate_book(dict(fields))
    except InvalidRow as error:
        return str(error)


@settings(max_examples=1500)
@given(rows() | plain_rows())
def test_an_imported_row_is_accepted_or_refused_exactly_as_the_api_would(
    fields: dict[str, Any],
) -> None:
    expected = _by_the_api(fields)
    assert _by_the_import(fields) == expected
    try:
        plain = rules._plain_record(dict(fields))
    except rules._NotPlain:
        return
    assert plain == expected
    assert [type(v) for v in plain.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "Dune", "authors": ["Frank Herbert"], "isbn": "9780441172719"},
        {"title": " Dom  Casmurro ", "author": "Machado de Assis", "published_year": 1899},
        {"title": "Ça", "authors": ["Inês Sá", "João"], "subjects": ["Ficção", "ficcao", "SF"]},
        {"title": "A", "author": "B", "series": "S", "series_index": 2.0, "page_count": 10},
        {"title": "A", "author": "B", "published_date": "1899-05", "language": "POR"},
    ],
)
def test_plain_rows_take_the_plain_path_with_the_apis_record(fields: dict[str, Any]) -> None:
    assert rules._plain_record(dict(fields)) == book_rules.validate_book(fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "A", "author": "B", "titel": "typo"},
        {"title": "A" * (TITLE_MAX + 1), "author": "B"},
        {"title": " " * (TITLE_MAX * 4 - 1) + "A" + " ", "author": "B"},
        {"title": "A", "author": "B\x07"},
        {"title": "A", "authors": []},
        {"title": "A", "author": "B" * (AUTHOR_MAX + 1)},
        {"title": "A", "author": "B", "isbn": "9780441172710"},
        {"title": "A", "author": "B", "published_year": True},
        {"title": "A", "author": "B", "series_index": float("nan")},
        {"title": "A", "author": "B", "published_year": 1900, "published_date": "1899"},
        {"title": None, "author": "B"},
    ],
)
def test_rows_off_the_plain_path_are_judged_by_the_api_model(fields: dict[str, Any]) -> None:
    with pytest.raises(rules._NotPlain):
        rules._plain_record(dict(fields))
    assert _by_the_import(fields) == _by_the_api(fields)
