"""The web service's sessions and defences, against the real Auth and Books Services."""

from __future__ import annotations

import json
from pathlib import Path

import requests
from flask import Flask

from tests.support.harness import STRONG_PASSWORD, Stack
from tests.support.postgres import PostgresServer
from tests.support.redis_server import REDIS_URL, require_redis
from tests.support.web import csrf_of, new_user, post_form, text_of, web_app
from web_service.app import create_app
from web_service.config import WebSettings
from web_service.cookies import COOKIE_NAME


def session_cookie_header(response: object) -> str:
    headers = response.headers.getlist("Set-Cookie")  # type: ignore[attr-defined]
    found = [h for h in headers if h.startswith(f"{COOKIE_NAME}=")]
    assert found, headers
    return found[-1]


def test_the_session_cookie_is_httponly_lax_and_not_secure_over_plain_http(web: Flask) -> None:
    header = session_cookie_header(web.test_client().get("/"))
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Path=/" in header
    assert "Secure" not in header


def test_logging_in_sets_a_new_session_id_and_no_token_reaches_the_browser(
    web_apis: Stack, web: Flask
) -> None:
    client = web.test_client()
    anonymous = session_cookie_header(client.get("/login")).split(";")[0]
    user = web_apis.register()["user"]
    response = post_form(
        client, "/login", {"username": user["username"], "password": STRONG_PASSWORD}
    )
    assert response.status_code == 303
    header = session_cookie_header(response)
    assert "HttpOnly" in header and "SameSite=Lax" in header
    logged_in = header.split(";")[0]
    assert logged_in != anonymous
    value = logged_in.split("=", 1)[1]
    assert "eyJ" not in value  # no JWT in the cookie
    assert len(value) < 120
    page = text_of(client.get("/account"))
    assert user["username"] in page
    assert "eyJ" not in page  # nor in the page


def test_the_session_cookie_is_secure_behind_https(web_apis: Stack, web: Flask) -> None:
    response = web.test_client().get("/", base_url="https://estante.example")
    assert "Secure" in session_cookie_header(response)


def test_every_page_has_the_security_headers(web: Flask) -> None:
    response = web.test_client().get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert response.headers["Referrer-Policy"] in ("strict-origin-when-cross-origin", "no-referrer")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = text_of(response)
    assert "<script>" not in page and "style=" not in page and "<style" not in page
    assert 'src="/static/htmx.min.js"' in page
    config = page.split('name="htmx-config" content=\'')[1].split("'")[0]
    settings = json.loads(config)
    # htmx would add an inline <style> for its indicators, and eval for hx-on: both refused.
    assert settings["includeIndicatorStyles"] is False
    assert settings["allowEval"] is False


def test_a_post_without_a_csrf_token_changes_nothing(web_apis: Stack, web: Flask) -> None:
    client = web.test_client()
    new_user(web_apis, client)
    title = "Livro sem token CSRF"
    before = requests.get(f"{web_apis.books_url}/books", params={"q": title}, timeout=10)
    response = client.post("/books/new", data={"title": title, "authors": "Ninguém"})
    assert response.status_code == 400
    assert 'data-status="400"' in text_of(response)
    after = requests.get(f"{web_apis.books_url}/books", params={"q": title}, timeout=10)
    assert after.headers["X-Total-Count"] == before.headers["X-Total-Count"] == "0"


def test_a_forged_or_foreign_csrf_token_changes_nothing(web_apis: Stack, web: Flask) -> None:
    client = web.test_client()
    new_user(web_apis, client)
    other = web.test_client()
    foreign = csrf_of(other, "/login")  # a real token, of another browser
    title = "Livro com token alheio"
    for token in (foreign, "forged", csrf_of(client, "/books/new")[:-2] + "xx"):
        response = client.post(
            "/books/new", data={"title": title, "authors": "Ninguém", "csrf_token": token}
        )
        assert response.status_code == 400
    found = requests.get(f"{web_apis.books_url}/books", params={"q": title}, timeout=10)
    assert found.json() == []


def test_an_htmx_request_may_carry_the_token_in_its_header(web_apis: Stack, web: Flask) -> None:
    client = web.test_client()
    new_user(web_apis, client)
    token = csrf_of(client, "/books/new")
    response = client.post(
        "/books/new",
        data={"title": "Via cabeçalho", "authors": "Autora"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert response.status_code == 303


def test_logging_out_needs_the_token_too(web_apis: Stack, web: Flask) -> None:
    client = web.test_client()
    username = new_user(web_apis, client)
    assert client.post("/logout").status_code == 400
    assert username in text_of(client.get("/account"))


def test_a_tampered_cookie_is_an_anonymous_visitor(web_apis: Stack, web: Flask) -> None:
    client = web.test_client()
    username = new_user(web_apis, client)
    cookie = client.get_cookie(COOKIE_NAME)
    assert cookie is not None
    value = cookie.value
    # One character of the id changed (the signature's last character may carry unused bits).
    tampered = value[:5] + ("A" if value[5] != "A" else "B") + value[6:]
    client.set_cookie(COOKIE_NAME, tampered)
    page = client.get("/")
    assert username not in text_of(page)
    assert session_cookie_header(page)  # a new anonymous id replaces it
    assert client.get("/account").status_code == 302


def test_a_cookie_from_another_installation_is_no_session(
    web_apis: Stack, web: Flask, tmp_path: Path
) -> None:
    other_install = web_app(web_apis, tmp_path / "other")  # its own generated secret
    there = other_install.test_client()
    username = new_user(web_apis, there)
    cookie = there.get_cookie(COOKIE_NAME)
    assert cookie is not None
    here = web.test_client()
    here.set_cookie(COOKIE_NAME, cookie.value)
    assert username not in text_of(here.get("/"))
    assert here.get("/account").status_code == 302


def test_logging_out_ends_the_auth_session(web_apis: Stack, web: Flask) -> None:
    client = web.test_client()
    new_user(web_apis, client)
    store = web.extensions["estante.web.sessions"].store
    cookie = client.get_cookie(COOKIE_NAME)
    assert cookie is not None
    from web_service.cookies import CookieSigner, hash_session_id

    session_id = CookieSigner(web.config["SECRET_KEY"]).unsign(cookie.value)
    assert session_id is not None
    record = store.get(hash_session_id(session_id))
    assert record is not None
    response = post_form(client, "/logout", {}, token_from="/")
    assert response.status_code == 303
    assert "notice=logged_out" in response.headers["Location"]
    assert store.get(record.id_hash) is None
    refreshed = requests.post(
        f"{web_apis.auth_url}/token/refresh",
        json={"refresh_token": record.refresh_token},
        timeout=10,
    )
    assert refreshed.status_code == 401
    assert client.get("/account").status_code == 302


def test_sessions_can_live_in_redis(web_apis: Stack, tmp_path: Path) -> None:
    require_redis()
    app = web_app(web_apis, tmp_path / "redis-web", redis_url=REDIS_URL)
    store = app.extensions["estante.web.sessions"].store
    assert type(store).__name__ == "RedisSessionStore"
    client = app.test_client()
    username = new_user(web_apis, client)
    assert username in text_of(client.get("/account"))
    assert app.test_client().get("/readyz").json["checks"] == {"sessions": "ok"}  # type: ignore[index]
    post_form(client, "/logout", {}, token_from="/")
    assert client.get("/account").status_code == 302


def test_an_unreachable_session_store_is_a_503_page(web_apis: Stack, tmp_path: Path) -> None:
    app = web_app(web_apis, tmp_path / "store-down", redis_url="redis://127.0.0.1:1/0")
    client = app.test_client()
    first = client.get("/")  # anonymous: no store needed
    assert first.status_code == 200
    user = web_apis.register()["user"]
    response = post_form(
        client, "/login", {"username": user["username"], "password": STRONG_PASSWORD}
    )
    assert response.status_code == 503
    assert "session store" in text_of(response)
    assert app.test_client().get("/readyz").status_code == 503


def test_sessions_can_live_in_postgresql(
    web_apis: Stack, tmp_path: Path, postgres: PostgresServer
) -> None:
    """The web's own sessions table on PostgreSQL (psycopg, no SQLAlchemy): log in, ready,
    refresh lock, log out."""
    app = web_app(web_apis, tmp_path / "pg-web", database_url=postgres.create_database("web"))
    client = app.test_client()
    username = new_user(web_apis, client)
    assert username in text_of(client.get("/account"))
    checks = app.test_client().get("/readyz").json["checks"]  # type: ignore[index]
    assert checks == {"sessions": "ok", "database": "ok"}
    store = app.extensions["estante.web.sessions"].store
    assert type(store).__name__ == "SqlSessionStore"
    post_form(client, "/logout", {}, token_from="/")
    assert client.get("/account").status_code == 302
    app.extensions["estante.web.sessions_db"].dispose()


def test_an_unreachable_session_database_is_a_503_page(web_apis: Stack, tmp_path: Path) -> None:
    config = WebSettings(
        data_dir=tmp_path / "db-down",
        environment="test",
        auth_url=web_apis.auth_url,
        books_url=web_apis.books_url,
        log_level="WARNING",
        database_url="postgresql://estante@127.0.0.1:1/web",  # nothing listens there
    )
    config.ensure_secret()
    app = create_app(config)
    client = app.test_client()
    assert client.get("/").status_code == 200  # anonymous: no store needed
    user = web_apis.register()["user"]
    response = post_form(
        client, "/login", {"username": user["username"], "password": STRONG_PASSWORD}
    )
    assert response.status_code == 503
    assert "session store" in text_of(response)
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"]["database"] == (  # type: ignore[index]
        "database unreachable or not migrated (OperationalError)"
    )
