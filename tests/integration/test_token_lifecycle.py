"""The token lifecycle over real HTTP: refresh rotation, reuse detection, logout, password
change, validation/introspection and revocation."""

from __future__ import annotations

import hashlib
from typing import Any

import requests

from tests.support.clients import login
from tests.support.harness import STRONG_PASSWORD, Stack, query_auth_database


def post(stack: Stack, path: str, **kwargs: Any) -> requests.Response:
    return requests.post(f"{stack.auth_url}{path}", timeout=10, **kwargs)


def refresh(stack: Stack, token: str) -> requests.Response:
    return post(stack, "/token/refresh", json={"refresh_token": token})


def validate(stack: Stack, token: str) -> dict[str, Any]:
    response = post(stack, "/validate", json={"token": token})
    assert response.status_code == 200
    return response.json()


def test_refresh_rotates_both_tokens(stack: Stack) -> None:
    first = stack.register()
    assert first["refresh_token"] and first["refresh_expires_in"] > 13 * 86400
    second = refresh(stack, first["refresh_token"])
    assert second.status_code == 200
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert body["user"] == first["user"]
    stack.add_book(body["access_token"], title="written with a refreshed token")
    third = refresh(stack, body["refresh_token"])
    assert third.status_code == 200


def test_reusing_a_rotated_token_revokes_the_whole_session(stack: Stack) -> None:
    a = stack.register()
    b = refresh(stack, a["refresh_token"]).json()
    c = refresh(stack, b["refresh_token"]).json()
    # b's child (c) was already used to... no: c is unused, but a is two steps back: reuse.
    reused = refresh(stack, a["refresh_token"])
    assert reused.status_code == 401
    assert reused.headers["Content-Type"] == "application/problem+json"
    assert "revoked" in reused.json()["detail"]
    # The thief's copy and the owner's newest token are both dead now.
    assert refresh(stack, c["refresh_token"]).status_code == 401
    assert validate(stack, c["access_token"]) == {"active": False}
    assert validate(stack, a["access_token"]) == {"active": False}


def test_a_lost_response_can_be_retried_within_the_grace_period(stack: Stack) -> None:
    a = stack.register()
    lost = refresh(stack, a["refresh_token"])  # the client never sees this answer
    assert lost.status_code == 200
    retry = refresh(stack, a["refresh_token"])
    assert retry.status_code == 200
    b = retry.json()
    assert b["refresh_token"] != lost.json()["refresh_token"]
    # The retried chain goes on normally...
    c = refresh(stack, b["refresh_token"])
    assert c.status_code == 200
    # ...and the answer that was lost can never be used: showing it up means it leaked.
    assert refresh(stack, lost.json()["refresh_token"]).status_code == 401
    assert refresh(stack, c.json()["refresh_token"]).status_code == 401


def test_only_the_immediate_predecessor_gets_the_grace(stack: Stack) -> None:
    a = stack.register()
    b = refresh(stack, a["refresh_token"]).json()
    c = refresh(stack, b["refresh_token"])
    assert c.status_code == 200
    # b is the parent of the newest token (c, unused): presenting it again is a retry...
    retried = refresh(stack, b["refresh_token"])
    assert retried.status_code == 200
    # ...but a is two steps back: reuse, and the whole session ends, the retried chain too.
    reused = refresh(stack, a["refresh_token"])
    assert reused.status_code == 401
    assert "revoked" in reused.json()["detail"]
    assert refresh(stack, retried.json()["refresh_token"]).status_code == 401


def test_access_and_refresh_tokens_are_not_interchangeable(stack: Stack) -> None:
    tokens = stack.register()
    assert refresh(stack, tokens["access_token"]).status_code == 401
    as_bearer = requests.post(
        f"{stack.books_url}/books",
        json={"title": "x", "author": "y"},
        headers={"Authorization": f"Bearer {tokens['refresh_token']}"},
        timeout=10,
    )
    assert as_bearer.status_code == 401
    me = requests.get(
        f"{stack.auth_url}/me",
        headers={"Authorization": f"Bearer {tokens['refresh_token']}"},
        timeout=10,
    )
    assert me.status_code == 401


def test_logout_ends_one_session_only(stack: Stack) -> None:
    username = stack.register()["user"]["username"]
    phone, laptop = login(stack, username), login(stack, username)
    response = post(stack, "/logout", json={"refresh_token": phone["refresh_token"]})
    assert response.status_code == 204
    assert refresh(stack, phone["refresh_token"]).status_code == 401
    assert validate(stack, phone["access_token"]) == {"active": False}
    assert refresh(stack, laptop["refresh_token"]).status_code == 200
    # Logging out with an unknown or already-used token answers the same.
    assert post(stack, "/logout", json={"refresh_token": "nonsense"}).status_code == 204
    assert post(stack, "/logout", json={}).status_code == 422


def test_logout_all_ends_every_session(stack: Stack) -> None:
    username = stack.register()["user"]["username"]
    one, two = login(stack, username), login(stack, username)
    response = post(
        stack, "/logout-all", headers={"Authorization": f"Bearer {one['access_token']}"}
    )
    assert response.status_code == 204
    for session in (one, two):
        assert refresh(stack, session["refresh_token"]).status_code == 401
        assert validate(stack, session["access_token"]) == {"active": False}
    me = requests.get(
        f"{stack.auth_url}/me",
        headers={"Authorization": f"Bearer {two['access_token']}"},
        timeout=10,
    )
    assert me.status_code == 401
    assert post(stack, "/logout-all").status_code == 401


def test_changing_the_password_ends_the_other_sessions(stack: Stack) -> None:
    username = stack.register()["user"]["username"]
    here, elsewhere = login(stack, username), login(stack, username)
    auth = {"Authorization": f"Bearer {here['access_token']}"}
    wrong = post(
        stack,
        "/me/password",
        headers=auth,
        json={"current_password": "not it at all", "new_password": "a brand new secret"},
    )
    assert wrong.status_code == 401
    weak = post(
        stack,
        "/me/password",
        headers=auth,
        json={"current_password": STRONG_PASSWORD, "new_password": "qwerty123"},
    )
    assert weak.status_code == 422
    assert [e["field"] for e in weak.json()["errors"]] == ["new_password"]
    assert "common" in weak.json()["detail"]
    # Neither the refused password nor the current one is echoed back.
    assert "qwerty123" not in weak.text and STRONG_PASSWORD not in weak.text
    changed = post(
        stack,
        "/me/password",
        headers=auth,
        json={"current_password": STRONG_PASSWORD, "new_password": "a brand new secret"},
    )
    assert changed.status_code == 204
    assert refresh(stack, elsewhere["refresh_token"]).status_code == 401
    assert refresh(stack, here["refresh_token"]).status_code == 200
    assert (
        post(stack, "/login", json={"username": username, "password": STRONG_PASSWORD}).status_code
        == 401
    )
    login(stack, username, "a brand new secret")
    no_token = post(
        stack, "/me/password", json={"current_password": "x", "new_password": "a brand new secret"}
    )
    assert no_token.status_code == 401


def test_me(stack: Stack) -> None:
    tokens = stack.register()
    me = requests.get(
        f"{stack.auth_url}/me",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert me.status_code == 200
    assert me.json() == tokens["user"]
    assert requests.get(f"{stack.auth_url}/me", timeout=10).status_code == 401


def test_validate_and_introspect(stack: Stack) -> None:
    tokens = stack.register()
    good = validate(stack, tokens["access_token"])
    assert good["active"] is True
    assert good["sub"] == str(tokens["user"]["id"])
    assert good["username"] == tokens["user"]["username"]
    assert good["roles"] == ["librarian"]
    assert good["token_type"] == "Bearer"  # RFC 7662 §2.2: the OAuth token type
    assert {"exp", "iat", "iss", "aud", "jti"} <= set(good)
    # RFC 7662 form encoding, on /introspect.
    form = post(stack, "/introspect", data={"token": tokens["access_token"]})
    assert form.status_code == 200 and form.json() == good
    # The bearer header when no body names a token.
    header = post(stack, "/validate", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert header.json() == good


def test_only_introspect_describes_refresh_tokens(stack: Stack) -> None:
    tokens = stack.register()
    refresh_token = tokens["refresh_token"]
    # /validate answers for access tokens: a refresh token is not one, however it is sent.
    for request in (
        {"json": {"token": refresh_token}},
        {"json": {"token": refresh_token, "token_type_hint": "refresh_token"}},
        {"data": {"token": refresh_token}},
        {"headers": {"Authorization": f"Bearer {refresh_token}"}},
    ):
        response = post(stack, "/validate", **request)
        assert response.status_code == 200
        assert response.json() == {"active": False}, request
    # /introspect (RFC 7662) says what it is, with any hint or none.
    for hint in (None, "refresh_token", "access_token"):
        body = {"token": refresh_token} | ({"token_type_hint": hint} if hint else {})
        info = post(stack, "/introspect", data=body).json()
        assert info["active"] is True
        assert info["token_type"] == "refresh_token"
        assert info["sub"] == str(tokens["user"]["id"])
    # The hint does not hide an access token either (RFC 7662 §2.1).
    info = post(
        stack,
        "/introspect",
        data={"token": tokens["access_token"], "token_type_hint": "refresh_token"},
    ).json()
    assert info["active"] is True and info["token_type"] == "Bearer"
    # Spent, it is inactive everywhere.
    assert refresh(stack, refresh_token).status_code == 200
    assert post(stack, "/introspect", data={"token": refresh_token}).json() == {"active": False}


BAD_TOKEN_VALUES = {
    "garbage": "garbage",
    "three dots": "a.b.c",
    "empty": "",
    "long": "x" * 4000,
    "longer than any token": "x" * 5000,
    "huge": "e" * 200_000,
    "not ASCII": "tökén.ünïcödé.sïgnâtürë",
    "NUL": "abc\u0000def",
    "lone surrogate": "\ud800",
}


def test_any_bad_token_value_is_inactive_and_revokes_nothing(stack: Stack) -> None:
    tokens = stack.register()
    head, payload, signature = tokens["access_token"].split(".")
    values = {**BAD_TOKEN_VALUES, "tampered": f"{head}.{payload}.{signature[:-4]}AAAA"}
    for name, value in values.items():
        for path in ("/validate", "/introspect"):
            response = post(stack, path, json={"token": value})
            assert response.status_code == 200, (name, path, response.text)
            assert response.json() == {"active": False}, (name, path)
        assert post(stack, "/revoke", json={"token": value}).status_code == 200, name
    # Form values too (the RFC 7662/7009 encoding).
    assert post(stack, "/introspect", data={"token": "x" * 5000}).json() == {"active": False}
    assert post(stack, "/revoke", data={"token": "x" * 5000}).status_code == 200
    assert validate(stack, tokens["access_token"])["active"] is True  # nothing was revoked


def test_token_endpoints_refuse_bodies_they_cannot_read(stack: Stack) -> None:
    """What is not a token value: no token at all, a token that is not a string, a body that
    is not an object, JSON that does not parse, or a content type that is neither."""
    json_header = {"Content-Type": "application/json"}
    for path in ("/validate", "/introspect", "/revoke"):
        broken = post(stack, path, data='{"token": "abc"', headers=json_header)
        assert broken.status_code == 400, path
        assert broken.headers["Content-Type"] == "application/problem+json"
        assert broken.json()["detail"] == "The request body is not valid JSON."
        text_body = post(stack, path, data="token", headers={"Content-Type": "text/plain"})
        assert text_body.status_code == 415, path
        assert "form field" in text_body.json()["detail"]
    for path in ("/validate", "/introspect"):
        for body in ({}, {"token": 5}, {"token": None}, [], "token"):
            response = post(stack, path, json=body)
            assert response.status_code == 422, (path, body)
            assert response.headers["Content-Type"] == "application/problem+json"
    # RFC 7009: revocation answers 200 whatever token value it got, even none.
    for body in ({}, {"token": 5}, {"token": None}, [], "token"):
        assert post(stack, "/revoke", json=body).status_code == 200, body


def test_revoke_always_answers_200_and_revokes(stack: Stack) -> None:
    tokens = stack.register()
    assert post(stack, "/revoke", data={"token": "unknown"}).status_code == 200
    assert post(stack, "/revoke", data={}).status_code == 200
    assert (
        post(
            stack,
            "/revoke",
            data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        ).status_code
        == 200
    )
    assert refresh(stack, tokens["refresh_token"]).status_code == 401
    assert validate(stack, tokens["access_token"]) == {"active": False}
    other = stack.register()
    assert post(stack, "/revoke", json={"token": other["access_token"]}).status_code == 200
    assert refresh(stack, other["refresh_token"]).status_code == 401


def test_revoking_a_spent_refresh_token_ends_its_session_as_logout_does(stack: Stack) -> None:
    for path, body in (("/revoke", "token"), ("/logout", "refresh_token")):
        first = stack.register()
        second = refresh(stack, first["refresh_token"]).json()
        # The first refresh token is spent; its session goes on in the second.
        answer = post(stack, path, json={body: first["refresh_token"]})
        assert answer.status_code in (200, 204), path
        assert refresh(stack, second["refresh_token"]).status_code == 401, path
        assert validate(stack, second["access_token"]) == {"active": False}, path


def test_refresh_input_errors(stack: Stack) -> None:
    assert refresh(stack, "").status_code == 422
    assert post(stack, "/token/refresh", json={"refresh_token": 5}).status_code == 422
    assert (
        post(stack, "/token/refresh", data="x", headers={"Content-Type": "text/plain"}).status_code
        == 415
    )
    assert refresh(stack, "never-issued").status_code == 401


def test_secrets_are_stored_only_as_hashes(stack: Stack) -> None:
    tokens = stack.register()
    username = tokens["user"]["username"]
    refreshed = refresh(stack, tokens["refresh_token"]).json()
    stored = [
        row.token_hash
        for row in query_auth_database(stack, "SELECT token_hash FROM refresh_tokens")
    ]
    for token in (tokens["refresh_token"], refreshed["refresh_token"]):
        assert token not in stored
        assert hashlib.sha256(token.encode()).hexdigest() in stored
    (user,) = query_auth_database(
        stack, "SELECT password_hash FROM users WHERE username = :name", name=username
    )
    assert user.password_hash.startswith("$argon2id$")
    assert STRONG_PASSWORD not in user.password_hash
