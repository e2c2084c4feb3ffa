"""Request validation at the edge: the schemas' messages, and that input is never echoed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from auth_service.schemas import LoginRequest, RegisterRequest
from books_service.schemas import BookFields, BookIn, BookPatch, BookQuery, IfMatch
from common.problem_json import field_errors, problem


def errors_of(model: Any, data: Any) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return field_errors(caught.value)


def test_registration_normalises_the_name() -> None:
    request = RegisterRequest.model_validate(
        {"username": "  Ana ", "password": "a fine passphrase"}
    )
    assert request.username == "Ana"


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({}, {"username", "password"}),
        ({"username": 123, "password": "a fine passphrase"}, {"username"}),  # no coercion
        ({"username": "ab", "password": "a fine passphrase"}, {"username"}),
        ({"username": "ana", "password": "pass1"}, {"password"}),
        ({"username": "ana", "password": "abc\x00defghij"}, {"password"}),
    ],
)
def test_registration_errors_name_each_field(data: dict[str, Any], fields: set[str]) -> None:
    assert {e["field"] for e in errors_of(RegisterRequest, data)} == fields


def test_errors_never_echo_the_input() -> None:
    secret = "hunter2"  # too short, so refused
    errors = errors_of(RegisterRequest, {"username": "ana", "password": secret})
    assert secret not in str(errors)
    response = problem(422, "bad", errors=errors)
    assert secret.encode() not in response.get_data()
    assert response.mimetype == "application/problem+json"


def test_login_accepts_any_name_shape_but_not_nul() -> None:
    assert LoginRequest.model_validate({"username": "ab", "password": "x"}).username == "ab"
    assert (
        errors_of(LoginRequest, {"username": "a\x00b", "password": "x"})[0]["field"] == "username"
    )


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"title": "   ", "author": "a"}, "title", "must not be empty"),
        ({"title": "t" * 501, "author": "a"}, "title", "at most 500"),
        ({"title": "t", "author": "a" * 301}, "author", "at most 300"),
        # Far over the limit (refused before any normalising): still the real limit.
        ({"title": "t" * 2001, "author": "a"}, "title", "must be at most 500 characters"),
        ({"title": "t" * 100_000, "author": "a"}, "title", "must be at most 500 characters"),
        ({"title": "t", "author": "a" * 1201}, "author", "must be at most 300 characters"),
        ({"title": "t", "author": "a", "subtitle": "s" * 2001}, "subtitle", "at most 500 char"),
        ({"title": "t", "author": "a", "publisher": "p" * 1201}, "publisher", "at most 300 char"),
        (
            {"title": "t", "author": "a", "description": "d" * 40_001},
            "description",
            "at most 10000",
        ),
        ({"title": "a\x07", "author": "a"}, "title", "control characters"),
        ({"title": "a\u2028b", "author": "a"}, "title", "one line"),
        ({"title": "t", "author": "a\u2029b"}, "author", "one line"),
        ({"title": "a\x00", "author": "a"}, "title", "not valid text"),
        ({"title": 5, "author": "a"}, "title", "valid string"),
        ({"title": "t"}, "author", "required"),
    ],
)
def test_book_errors(data: dict[str, Any], field: str, message: str) -> None:
    errors = errors_of(BookIn, data)
    assert [e["field"] for e in errors] == [field]
    assert message in errors[0]["message"]


def test_books_are_trimmed_and_nfc_normalised() -> None:
    book = BookIn.model_validate({"title": "  Dom Casmurro ", "author": "Jose\u0301 de Alencar"})
    assert book.title == "Dom Casmurro"
    assert book.author == "José de Alencar"
    assert BookIn.model_validate({"title": " " + "t" * 500 + " ", "author": "a"}).title == "t" * 500


def test_problem_adds_the_bearer_challenge_to_401() -> None:
    response = problem(401, "no token")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.status_code == 401


def test_documented_lengths_are_the_real_limits() -> None:
    """The OpenAPI document's maxLength is what the service enforces (after trimming)."""
    properties = BookFields.model_json_schema()["properties"]

    def max_length(name: str) -> int:
        schema = properties[name]
        options = schema.get("anyOf", [schema])
        return next(option["maxLength"] for option in options if option.get("type") == "string")

    assert {name: max_length(name) for name in ("title", "subtitle", "author", "description")} == {
        "title": 500,
        "subtitle": 500,
        "author": 300,
        "description": 10_000,
    }
    assert properties["authors"]["anyOf"][0]["items"]["maxLength"] == 300
    patch = BookPatch.model_json_schema()["properties"]
    assert patch["title"]["maxLength"] == 500
    assert patch["title"]["type"] == "string"  # never null: the title cannot be removed


def test_surrounding_space_does_not_count_against_the_limit() -> None:
    spaced = BookIn.model_validate({"title": " " * 600 + "t" * 500 + " " * 600, "author": "a"})
    assert spaced.title == "t" * 500
    # Decomposed accents (as macOS sends them) count as the composed letters they make.
    decomposed = BookIn.model_validate({"title": "e\u0301" * 500, "author": "a"})
    assert decomposed.title == "\u00e9" * 500


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"author": "a" * 301}, "author", "must be at most 300 characters"),
        ({"q": "q" * 201}, "q", "must be at most 200 characters"),
        ({"subject": "s" * 101}, "subject", "must be at most 100 characters"),
        ({"publisher": "p" * 301}, "publisher", "must be at most 300 characters"),
        ({"author": "a" * 5000}, "author", "must be at most 300 characters"),
    ],
)
def test_too_long_query_strings_say_so_in_characters(
    params: dict[str, str], field: str, message: str
) -> None:
    assert errors_of(BookQuery, params) == [
        {"field": field, "message": message, "type": "string_too_long"}
    ]


def test_query_text_within_the_limit_is_trimmed() -> None:
    assert BookQuery.model_validate({"author": "  " + "a" * 300 + "  "}).author == "a" * 300


@pytest.mark.parametrize(
    "value", ["*", '"52-1"', 'W/"52-1"', '"a", W/"b" ,"c"', '""', " * ", '"a,b"', "", ' , "a",']
)
def test_if_match_takes_quoted_entity_tags(value: str) -> None:
    assert IfMatch.model_validate({"If-Match": value}).if_match == value


@pytest.mark.parametrize(
    "value", ["52-1", '"52-1', "garbage", '"a" "b"', "W/52-1", '*, "a"', '"a"b"']
)
def test_if_match_refuses_what_rfc_9110_does_not_call_an_entity_tag(value: str) -> None:
    found = errors_of(IfMatch, {"If-Match": value})
    assert [e["field"] for e in found] == ["If-Match"]
    assert "quoted" in found[0]["message"]


@pytest.mark.parametrize("value", [", " * 40 + "x", " " * 8000 + "x", ' ,"a" ' * 1000 + "x"])
def test_a_hostile_if_match_is_refused_at_once(value: str) -> None:
    # With spaces allowed on both sides of each comma, the first of these took minutes (the
    # match backtracked through every way of splitting the spaces): a worker held for good.
    found = errors_of(IfMatch, {"If-Match": value})
    assert [e["field"] for e in found] == ["If-Match"]
