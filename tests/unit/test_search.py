"""What a search query becomes before any database sees it: folded words, ISBNs kept whole,
no operator syntax of either engine."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from books_service.search import (
    MAX_TERM_LENGTH,
    MAX_TERMS,
    pg_tsquery_text,
    sqlite_match_expression,
    terms,
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Exupéry", ["exupery"]),
        ("SÃO   Paulo", ["sao", "paulo"]),
        ("Søren Kierkegaard", ["soren", "kierkegaard"]),
        ("Straße", ["strasse"]),
        ("Saint-Exupéry", ["saint", "exupery"]),
        ("978-85-359-0277-8", ["9788535902778"]),
        ("0-8044-2957-X", ["080442957x"]),
        ('"a" OR b* NEAR(c) -d:*', ["a", "or", "b", "near", "c", "d"]),
        ("snake_case", ["snake", "case"]),
        ("星の王子さま 📚", ["星の王子さま"]),
        ("   ", []),
        ("!!!", []),
    ],
)
def test_terms(query: str, expected: list[str]) -> None:
    assert terms(query) == expected


def test_terms_are_bounded() -> None:
    assert len(terms("palavra " * 100)) == MAX_TERMS
    assert terms("x" * 500) == ["x" * MAX_TERM_LENGTH]


def test_engine_queries_quote_every_word_and_prefix_from_three_letters() -> None:
    assert sqlite_match_expression(["ex", "exu", "a"]) == '"ex" "exu"* "a"'
    assert pg_tsquery_text(["ex", "exu"]) == "'ex' & 'exu':*"


@given(st.text())
def test_no_query_syntax_survives(query: str) -> None:
    words = terms(query)
    assert all(re.fullmatch(r"[^\W_]+", w) for w in words)
    assert all(w == w.casefold() for w in words)
    if words:
        fts = sqlite_match_expression(words)
        assert fts.count('"') == 2 * len(words)
        assert set(pg_tsquery_text(words)) - set("".join(words)) <= set("'&:* ")
