"""Accounts through the web pages against the real Auth Service: register, log in (and its
throttle's wait), my account, log out everywhere, the users page, and tokens refreshed
transparently, one refresh at a time per session."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from common.clock import utcnow
from tests.support.harness import STRONG_PASSWORD, Stack
from tests.support.web import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    add_book,
    log_in,
    new_user,
    post_form,
    start_apis,
    text_of,
    web_app,
)
from web_service.cookies import COOKIE_NAME, CookieSigner, hash_session_id
from web_service.session_store import SessionRecord


def session_record(web: Flask, client: FlaskClient) -> SessionRecord:
    cookie = client.get_cookie(COOKIE_NAME)
    assert cookie is not None
    session_id = CookieSigner(web.config["SECRET_KEY"]).unsign(cookie.value)
    assert session_id is not None
    record = web.extensions["estante.web.sessions"].store.get(hash_session_id(session_id))
    assert record is not None
    return record


def expire_access_token(web: Flask, client: FlaskClient) -> SessionRecord:
    """Make the stored access token look expired, so the next call must refresh."""
    record = session_record(web, client)
    store = web.extensions["estante.web.sessions"].store
    store.save(replace(record, access_expires_at=utcnow() - timedelta(seconds=1)))
    return record


def test_registering_logs_the_new_user_in(web: Flask) -> None:
    client = web.test_client()
    username = f"new_{uuid.uuid4().hex[:8]}"
    response = post_form(
        client,
        "/register",
        {"username": username, "password": STRONG_PASSWORD, "password_confirm": STRONG_PASSWORD},
    )
    assert response.status_code == 303
    assert "notice=registered" in response.headers["Location"]
    assert username in text_of(client.get("/account"))


def test_registration_errors_keep_the_username(web_apis: Stack, web: Flask) -> None:
    client = web.test_client()
    taken = web_apis.register()["user"]["username"]
    response = post_form(
        client,
        "/register",
        {"username": taken, "password": STRONG_PASSWORD, "password_confirm": STRONG_PASSWORD},
    )
    assert response.status_code == 409
    assert 'id="username-error1"' in text_of(response)
    assert f'value="{taken}"' in text_of(response)
    short = post_form(
        client,
        "/register",
        {"username": "okname", "password": "short", "password_confirm": "short"},
    )
    assert short.status_code == 422
    assert 'id="password-error1"' in text_of(short)
    mismatch = post_form(
        client,
        "/register",
        {"username": "okname2", "password": STRONG_PASSWORD, "password_confirm": "other"},
    )
    assert mismatch.status_code == 400
    assert 'id="password_confirm-error1"' in text_of(mismatch)


def test_a_wrong_password_is_refused_with_the_username_kept(web_apis: Stack, web: Flask) -> None:
    username = web_apis.register()["user"]["username"]
    response = post_form(
        web.test_client(), "/login", {"username": username, "password": "wrong password!"}
    )
    assert response.status_code == 401
    page = text_of(response)
    assert 'id="login-error"' in page and "Wrong username or password." in page
    assert f'value="{username}"' in page


def test_logging_in_goes_back_to_the_page_asked_for(web_apis: Stack, web: Flask) -> None:
    username = web_apis.register()["user"]["username"]
    client = web.test_client()
    response = post_form(
        client,
        "/login",
        {"username": username, "password": STRONG_PASSWORD, "next": "/books/new"},
    )
    assert response.headers["Location"] == "/books/new?notice=logged_in"
    evil = post_form(
        web.test_client(),
        "/login",
        {"username": username, "password": STRONG_PASSWORD, "next": "//evil.example/"},
    )
    assert evil.headers["Location"] == "/?notice=logged_in"


def test_changing_the_password_needs_the_current_one(web_apis: Stack, web: Flask) -> None:
    client = web.test_client()
    username = new_user(web_apis, client)
    wrong = post_form(
        client,
        "/account/password",
        {
            "current_password": "not it at all",
            "new_password": "a brand new passphrase",
            "new_password_confirm": "a brand new passphrase",
        },
        token_from="/account",
    )
    assert wrong.status_code == 401
    assert 'id="current_password-error1"' in text_of(wrong)
    assert username in text_of(client.get("/account"))  # still logged in
    changed = post_form(
        client,
        "/account/password",
        {
            "current_password": STRONG_PASSWORD,
            "new_password": "a brand new passphrase",
            "new_password_confirm": "a brand new passphrase",
        },
        token_from="/account",
    )
    assert changed.status_code == 303
    log_in(web.test_client(), username, "a brand new passphrase")


def test_logging_out_everywhere_ends_other_browsers_sessions(web_apis: Stack, web: Flask) -> None:
    here = web.test_client()
    username = new_user(web_apis, here)
    there = web.test_client()
    log_in(there, username)
    response = post_form(here, "/account/logout-all", {}, token_from="/account")
    assert response.status_code == 303
    assert here.get("/account").status_code == 302
    # The other browser's tokens are revoked: its next call to an API finds the session over.
    expire_access_token(web, there)
    refused = there.get("/books/new")
    assert refused.status_code in (200, 302)
    post = post_form(there, "/books/new", {"title": "x", "authors": "y"})
    assert post.status_code == 302
    assert post.headers["Location"].startswith("/login")


def test_an_expired_access_token_is_refreshed_transparently(web_apis: Stack, web: Flask) -> None:
    client = web.test_client()
    new_user(web_apis, client)
    before = expire_access_token(web, client)
    add_book(client, title=f"Depois do refresh {uuid.uuid4().hex[:6]}", authors="Autora")
    after = session_record(web, client)
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token  # rotated, and the new one stored
    assert after.access_expires_at > utcnow()


def test_concurrent_requests_of_one_session_refresh_once(web_apis: Stack, web: Flask) -> None:
    client = web.test_client()
    new_user(web_apis, client)
    before = expire_access_token(web, client)
    cookie = client.get_cookie(COOKIE_NAME)
    assert cookie is not None
    results: list[int] = []

    def write() -> None:
        browser = web.test_client()
        browser.set_cookie(COOKIE_NAME, cookie.value)
        page = browser.get("/books/new")
        token = re.search(r'name="csrf_token" value="([^"]+)"', text_of(page))
        assert token
        response = browser.post(
            "/books/new",
            data={
                "title": f"Concorrente {uuid.uuid4().hex[:6]}",
                "authors": "Autor",
                "csrf_token": token.group(1),
            },
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [303] * 4
    after = session_record(web, client)
    assert after.refresh_token != before.refresh_token
    # The session is alive: had two requests spent the same refresh token, the Auth Service
    # would have ended it as a replay.
    refreshed = requests.post(
        f"{web_apis.auth_url}/token/refresh",
        json={"refresh_token": after.refresh_token},
        timeout=10,
    )
    assert refreshed.status_code == 200


def test_administrators_change_roles_and_disable_users(web_apis: Stack, web: Flask) -> None:
    user = web_apis.register()["user"]
    admin = web.test_client()
    log_in(admin, ADMIN_NAME, ADMIN_PASSWORD)
    page = text_of(admin.get("/admin/users?page=1"))
    assert f'id="user-{user["id"]}"' in page
    made_reader = post_form(
        admin, f"/admin/users/{user['id']}", {"role": "reader"}, token_from="/admin/users"
    )
    assert made_reader.status_code == 303
    disabled = post_form(
        admin, f"/admin/users/{user['id']}", {"disabled": "true"}, token_from="/admin/users"
    )
    assert disabled.status_code == 303
    page = text_of(admin.get("/admin/users"))
    row = page.split(f'id="user-{user["id"]}"')[1].split("</tr>")[0]
    assert 'value="reader" selected' in row
    assert f'id="enable-{user["id"]}"' in row
    refused = post_form(
        web.test_client(), "/login", {"username": user["username"], "password": STRONG_PASSWORD}
    )
    assert refused.status_code == 403
    assert "disabled" in text_of(refused)


def test_the_last_administrator_cannot_be_demoted(web_apis: Stack, web: Flask) -> None:
    admin = web.test_client()
    log_in(admin, ADMIN_NAME, ADMIN_PASSWORD)
    me = requests.post(
        f"{web_apis.auth_url}/login",
        json={"username": ADMIN_NAME, "password": ADMIN_PASSWORD},
        timeout=10,
    ).json()["user"]
    response = post_form(
        admin, f"/admin/users/{me['id']}", {"role": "reader"}, token_from="/admin/users"
    )
    assert response.status_code == 303
    page = text_of(admin.get(response.headers["Location"]))
    assert 'id="users-error"' in page


def test_only_administrators_see_the_users(web_apis: Stack, web: Flask) -> None:
    librarian = web.test_client()
    new_user(web_apis, librarian)
    assert librarian.get("/admin/users").status_code == 403
    assert web.test_client().get("/admin/users").status_code == 302


@pytest.fixture(scope="module")
def throttled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Flask]]:
    stack = start_apis(tmp_path_factory.mktemp("throttled"), LOGIN_THROTTLE_FREE_ATTEMPTS="1")
    try:
        yield stack, web_app(stack, Path(tmp_path_factory.mktemp("throttled-web")))
    finally:
        stack.stop()


def test_too_many_failed_logins_show_the_wait(throttled: tuple[Stack, Flask]) -> None:
    stack, web = throttled
    username = stack.register()["user"]["username"]
    client = web.test_client()
    statuses = []
    for _ in range(3):
        response = post_form(client, "/login", {"username": username, "password": "bad guess!"})
        statuses.append(response.status_code)
    assert 429 in statuses
    page = text_of(response)
    assert re.search(r"Try again in \d+ (seconds|min)", page), page
