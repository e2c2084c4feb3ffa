"""The spec's curl examples, as written (with a password that passes the policy)."""

from __future__ import annotations

import requests

from tests.support.harness import STRONG_PASSWORD, Stack


def test_spec_weak_password_is_refused_with_the_reason(stack: Stack) -> None:
    response = requests.post(
        f"{stack.auth_url}/register", json={"username": "user1", "password": "pass1"}, timeout=10
    )
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422
    assert body["errors"] == [
        {
            "field": "password",
            "message": "password must be at least 8 characters long",
            "type": "password_policy",
        }
    ]
    assert "pass1" not in response.text


def test_the_whole_spec_flow(stack: Stack) -> None:
    username = f"user1_{stack.backend}"
    credentials = {"username": username, "password": STRONG_PASSWORD}

    registered = requests.post(f"{stack.auth_url}/register", json=credentials, timeout=10)
    assert registered.status_code == 201
    body = registered.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["user"]["username"] == username
    assert isinstance(body["user"]["id"], int)

    login = requests.post(f"{stack.auth_url}/login", json=credentials, timeout=10)
    assert login.status_code == 200
    token = login.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}

    listed = requests.get(f"{stack.books_url}/books", timeout=10)
    assert listed.status_code == 200
    assert isinstance(listed.json(), list)

    created = requests.post(
        f"{stack.books_url}/books",
        json={"title": "Novo Livro", "author": "Autor Desconhecido"},
        headers=auth,
        timeout=10,
    )
    assert created.status_code == 201
    book = created.json()
    assert book["title"] == "Novo Livro"
    assert book["author"] == "Autor Desconhecido"
    assert book["created_by"] == username
    assert book["created_at"].endswith("Z")
    assert created.headers["Location"] == f"/books/{book['id']}"

    fetched = requests.get(f"{stack.books_url}/books/{book['id']}", timeout=10)
    assert fetched.json() == book
    assert book in stack.list_books()

    updated = requests.put(
        f"{stack.books_url}/books/{book['id']}",
        json={"title": "Livro Atualizado", "author": "Autor Famoso"},
        headers=auth,
        timeout=10,
    )
    assert updated.status_code == 200
    assert updated.json()["title"] == "Livro Atualizado"
    assert updated.json()["author"] == "Autor Famoso"
    assert updated.json()["created_at"] == book["created_at"]
    assert updated.json()["updated_at"] >= book["updated_at"]

    deleted = requests.delete(f"{stack.books_url}/books/{book['id']}", headers=auth, timeout=10)
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = requests.get(f"{stack.books_url}/books/{book['id']}", timeout=10)
    assert gone.status_code == 404
    assert gone.headers["Content-Type"] == "application/problem+json"
    again = requests.delete(f"{stack.books_url}/books/{book['id']}", headers=auth, timeout=10)
    assert again.status_code == 404
    missing_put = requests.put(
        f"{stack.books_url}/books/{book['id']}",
        json={"title": "x", "author": "y"},
        headers=auth,
        timeout=10,
    )
    assert missing_put.status_code == 404


def test_legacy_auth_paths_answer_the_same_way(stack: Stack) -> None:
    username = f"legacy_{stack.backend}"
    credentials = {"username": username, "password": STRONG_PASSWORD}
    registered = requests.post(f"{stack.auth_url}/auth/register", json=credentials, timeout=10)
    assert registered.status_code == 201
    assert set(registered.json()) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
        "user",
    }
    login = requests.post(f"{stack.auth_url}/auth/login", json=credentials, timeout=10)
    assert login.status_code == 200
    stack.add_book(login.json()["access_token"], title="Via legacy login")


def test_login_failures_look_identical(stack: Stack) -> None:
    username = f"known_{stack.backend}"
    stack.register(username)
    wrong_password = requests.post(
        f"{stack.auth_url}/login",
        json={"username": username, "password": "not the password"},
        timeout=10,
    )
    unknown_user = requests.post(
        f"{stack.auth_url}/login",
        json={"username": "nobody_here", "password": "not the password"},
        timeout=10,
    )
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.json() == unknown_user.json()
    assert wrong_password.headers["WWW-Authenticate"] == unknown_user.headers["WWW-Authenticate"]


def test_usernames_are_unique_case_insensitively_after_normalising(stack: Stack) -> None:
    stack.register(f"Maria_{stack.backend}")
    for variant in (
        f"maria_{stack.backend}",
        f"  MARIA_{stack.backend} ",
        f"ＭＡＲＩＡ_{stack.backend}",
    ):
        response = requests.post(
            f"{stack.auth_url}/register",
            json={"username": variant, "password": STRONG_PASSWORD},
            timeout=10,
        )
        assert response.status_code == 409, variant
        assert response.headers["Content-Type"] == "application/problem+json"
    # And login finds the account under any of those spellings.
    login = requests.post(
        f"{stack.auth_url}/login",
        json={"username": f"  MARIA_{stack.backend}", "password": STRONG_PASSWORD},
        timeout=10,
    )
    assert login.status_code == 200
    assert login.json()["user"]["username"] == f"Maria_{stack.backend}"


def test_service_descriptions_jwks_and_health(stack: Stack) -> None:
    auth_index = requests.get(f"{stack.auth_url}/", timeout=10).json()
    assert auth_index["name"] == "Estante Auth Service"
    assert auth_index["links"]["jwks"] == "/.well-known/jwks.json"
    books_index = requests.get(f"{stack.books_url}/", timeout=10).json()
    assert books_index["name"] == "Estante Books Service"
    jwks = requests.get(f"{stack.auth_url}/.well-known/jwks.json", timeout=10).json()
    assert jwks["keys"] and all(k["kty"] == "OKP" and "d" not in k for k in jwks["keys"])
    for url in (stack.auth_url, stack.books_url):
        health = requests.get(f"{url}/healthz", timeout=10)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert health.headers["X-Request-ID"]


def test_request_id_is_echoed(stack: Stack) -> None:
    response = requests.get(
        f"{stack.books_url}/books", headers={"X-Request-ID": "abc-123"}, timeout=10
    )
    assert response.headers["X-Request-ID"] == "abc-123"
    unsafe = requests.get(
        f"{stack.books_url}/books", headers={"X-Request-ID": "bad id\twith space"}, timeout=10
    )
    assert unsafe.headers["X-Request-ID"] != "bad id\twith space"
