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
    sqlite_tier_expression,
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
        ("978–85–359–0277–8", ["9788535902778"]),  # en dashes
        ("978 85 359 0277 8", ["9788535902778"]),  # spaces, a valid ISBN
        ("isbn 0 8044 2957 X", ["isbn", "080442957x"]),
        ("0-8044-2957-X", ["080442957x"]),
        ("978-85-35", ["9788535"]),  # an ISBN-13 being typed
        # Other hyphenated or spaced numbers are numbers: years, versions, editions.
        ("1939-1945", ["1939", "1945"]),
        ("Web 2.0", ["web", "2", "0"]),
        ("1984 2001", ["1984", "2001"]),
        ("978 85 359 0277 9", ["978", "85", "359", "0277", "9"]),  # wrong check digit
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


def test_engine_queries_quote_every_word_and_the_last_is_a_prefix_from_three_letters() -> None:
    assert sqlite_match_expression(["ex", "exu", "a"]) == '"ex" "exu" "a"'
    assert sqlite_match_expression(["dom", "cas"]) == '"dom" "cas"*'
    assert sqlite_match_expression(["dom", "ca"]) == '"dom" "ca"'
    assert pg_tsquery_text(["ex", "exu"]) == "'ex' & 'exu':*"
    assert pg_tsquery_text(["exu", "ex"]) == "'exu' & 'ex'"


def test_a_word_cut_to_the_longest_term_is_the_start_of_a_longer_one() -> None:
    long, short = "x" * MAX_TERM_LENGTH, "yy"
    assert sqlite_match_expression([long, short]) == f'"{long}"* "{short}"'
    assert pg_tsquery_text([long, short]) == f"'{long}':* & '{short}'"


def test_tiers_are_column_filters_that_exclude_the_better_tiers() -> None:
    assert sqlite_tier_expression(["dom", "cas"], 0) == '{title_key}: ("dom" "cas"*)'
    assert sqlite_tier_expression(["dom", "cas"], 1) == (
        '({title_key author_key}: ("dom" "cas"*)) NOT ({title_key}: ("dom" "cas"*))'
    )
    assert sqlite_tier_expression(["dom", "cas"], 2) == (
        '("dom" "cas"*) NOT ({title_key author_key}: ("dom" "cas"*))'
    )
    assert pg_tsquery_text(["dom", "cas"], "AB") == "'dom':AB & 'cas':*AB"


@given(st.text())
def test_no_query_syntax_survives(query: str) -> None:
    words = terms(query)
    assert all(re.fullmatch(r"[^\W_]+", w) for w in words)
    assert all(w == w.casefold() for w in words)
    if words:
        fts = sqlite_match_expression(words)
        assert fts.count('"') == 2 * len(words)
        assert set(pg_tsquery_text(words)) - set("".join(words)) <= set("'&:* ")
        for tier in range(3):
            assert sqlite_tier_expression(words, tier).count('"') % 2 == 0
