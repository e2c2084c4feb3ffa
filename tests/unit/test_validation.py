"""Request validation at the edge: the schemas' messages, and that input is never echoed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from auth_service.schemas import LoginRequest, RegisterRequest
from books_service.schemas import BookIn
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
        ({"title": "a\x07", "author": "a"}, "title", "control characters"),
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
