"""A mistake in a request body is an error, never silently dropped: every JSON body of both
services refuses members it does not know with a 422 naming each of them, and changes nothing;
a PATCH that names nothing to change is a 422 too. Over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.support.clients import bearer
from tests.support.harness import STRONG_PASSWORD, Stack


def refused_fields(response: requests.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/validation-error"
    return {error["field"] for error in problem["errors"]}


def unknown_fields(response: requests.Response) -> set[str]:
    fields = refused_fields(response)
    errors = {e["field"]: e for e in response.json()["errors"]}
    assert all(errors[f]["type"] == "extra_forbidden" for f in fields)
    assert all("not a field that can be sent here" in errors[f]["message"] for f in fields)
    return fields


def test_a_new_book_with_misspelt_fields_is_refused_and_not_added(stack: Stack) -> None:
    token = stack.token()
    title = "Refused for its typos"
    response = requests.post(
        f"{stack.books_url}/books",
        json={"title": title, "author": "A", "titel": "x", "pages": 12},
        headers=bearer(token),
        timeout=10,
    )
    assert unknown_fields(response) == {"titel", "pages"}
    assert "titel" in response.json()["detail"]
    found = requests.get(f"{stack.books_url}/books", params={"q": title}, timeout=10).json()
    assert [book for book in found if book["title"] == title] == []


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_change_with_a_misspelt_field_is_refused_and_changes_nothing(
    stack: Stack, method: str
) -> None:
    token = stack.token()
    book = stack.add_book(token, title="Kept as it was", author="Original Author")
    body: dict[str, Any] = {"autor": "Someone Else"}
    if method == "PUT":  # a whole book, valid but for the misspelt member
        body |= {"title": "Kept as it was", "author": "Original Author"}
    response = requests.request(
        method,
        f"{stack.books_url}/books/{book['id']}",
        json=body,
        headers=bearer(token),
        timeout=10,
    )
    assert unknown_fields(response) == {"autor"}
    after = requests.get(f"{stack.books_url}/books/{book['id']}", timeout=10).json()
    assert after == book


def test_a_merge_patch_with_an_unknown_member_is_refused(stack: Stack) -> None:
    """In a merge patch too a member names a field, and null removes it: an unknown name, with a
    value or null, is a mistake."""
    token = stack.token()
    book = stack.add_book(token, title="Merge patched")
    for body in ({"copies": 3, "copys": 4}, {"publsher": None}):
        response = requests.patch(
            f"{stack.books_url}/books/{book['id']}",
            json=body,
            headers={**bearer(token), "Content-Type": "application/merge-patch+json"},
            timeout=10,
        )
        assert unknown_fields(response) == set(body) - {"copies"}
    after = requests.get(f"{stack.books_url}/books/{book['id']}", timeout=10).json()
    assert after["copies"] == 1 and after["version"] == book["version"]


def test_an_empty_patch_of_a_book_is_refused(stack: Stack) -> None:
    token = stack.token()
    book = stack.add_book(token, title="Nothing to change")
    response = requests.patch(
        f"{stack.books_url}/books/{book['id']}", json={}, headers=bearer(token), timeout=10
    )
    assert refused_fields(response) == {"body"}
    assert "nothing to change" in response.json()["errors"][0]["message"]
    after = requests.get(f"{stack.books_url}/books/{book['id']}", timeout=10).json()
    assert after["version"] == book["version"]


def test_registering_with_an_unknown_field_is_refused_and_creates_no_account(
    stack: Stack,
) -> None:
    body = {"username": "typo.user.a", "password": STRONG_PASSWORD, "emial": "a@example.org"}
    response = requests.post(f"{stack.auth_url}/register", json=body, timeout=10)
    assert unknown_fields(response) == {"emial"}
    login = requests.post(
        f"{stack.auth_url}/login",
        json={"username": "typo.user.a", "password": STRONG_PASSWORD},
        timeout=10,
    )
    assert login.status_code == 401


def test_logging_in_with_an_unknown_field_is_refused(stack: Stack) -> None:
    account = stack.register()
    body = {
        "username": account["user"]["username"],
        "password": STRONG_PASSWORD,
        "remember_me": True,
    }
    assert unknown_fields(requests.post(f"{stack.auth_url}/login", json=body, timeout=10)) == {
        "remember_me"
    }


@pytest.mark.parametrize("path", ["/token/refresh", "/logout"])
def test_refresh_and_logout_with_an_unknown_field_are_refused_and_the_session_goes_on(
    stack: Stack, path: str
) -> None:
    account = stack.register()
    body = {"refresh_token": account["refresh_token"], "everywhere": True}
    assert unknown_fields(requests.post(f"{stack.auth_url}{path}", json=body, timeout=10)) == {
        "everywhere"
    }
    refreshed = requests.post(
        f"{stack.auth_url}/token/refresh",
        json={"refresh_token": account["refresh_token"]},
        timeout=10,
    )
    assert refreshed.status_code == 200, refreshed.text


def test_a_password_change_with_an_unknown_field_is_refused_and_changes_nothing(
    stack: Stack,
) -> None:
    account = stack.register()
    body = {
        "current_password": STRONG_PASSWORD,
        "new_password": "another fine passphrase",
        "confirm_password": "another fine passphrase",
    }
    response = requests.post(
        f"{stack.auth_url}/me/password",
        json=body,
        headers=bearer(account["access_token"]),
        timeout=10,
    )
    assert unknown_fields(response) == {"confirm_password"}
    login = requests.post(
        f"{stack.auth_url}/login",
        json={"username": account["user"]["username"], "password": STRONG_PASSWORD},
        timeout=10,
    )
    assert login.status_code == 200


@pytest.mark.parametrize("path", ["/validate", "/introspect", "/revoke"])
def test_token_endpoints_refuse_unknown_members(stack: Stack, path: str) -> None:
    account = stack.register()
    body = {"token": account["refresh_token"], "tokn_type_hint": "refresh_token"}
    response = requests.post(f"{stack.auth_url}{path}", json=body, timeout=10)
    assert unknown_fields(response) == {"tokn_type_hint"}
    refreshed = requests.post(
        f"{stack.auth_url}/token/refresh",
        json={"refresh_token": account["refresh_token"]},
        timeout=10,
    )
    assert refreshed.status_code == 200, "a refused /revoke must not end the session"
