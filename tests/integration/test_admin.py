"""Roles and administration over real HTTP: the first admin, user management, 403s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.harness import STRONG_PASSWORD, Stack, start_stack

ADMIN = "chief.librarian"
ADMIN_PASSWORD = "a long admin passphrase"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def admin_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_stack(
        request,
        tmp_path_factory.mktemp(f"admin-{request.param}"),
        {"ESTANTE_ADMIN_USERNAME": ADMIN, "ESTANTE_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    yield running
    running.stop()


def login(stack: Stack, username: str, password: str) -> requests.Response:
    return requests.post(
        f"{stack.auth_url}/login", json={"username": username, "password": password}, timeout=10
    )


@pytest.fixture
def admin_headers(admin_stack: Stack) -> dict[str, str]:
    response = login(admin_stack, ADMIN, ADMIN_PASSWORD)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["roles"] == ["admin"]
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def admin(
    stack: Stack, method: str, path: str, headers: dict[str, str], **kw: Any
) -> requests.Response:
    return requests.request(
        method, f"{stack.auth_url}/admin{path}", headers=headers, timeout=10, **kw
    )


def test_the_first_admin_comes_from_the_environment(
    admin_stack: Stack, admin_headers: dict[str, str]
) -> None:
    users = admin(admin_stack, "GET", "/users", admin_headers).json()
    assert any(u["username"] == ADMIN and u["roles"] == ["admin"] for u in users["items"])


def test_admin_endpoints_refuse_others(admin_stack: Stack) -> None:
    librarian = admin_stack.register()
    headers = {"Authorization": f"Bearer {librarian['access_token']}"}
    for method, path in (
        ("GET", "/users"),
        ("PATCH", "/users/1"),
        ("DELETE", "/users/1"),
        ("GET", "/settings"),
        ("PUT", "/settings"),
    ):
        assert admin(admin_stack, method, path, headers, json={}).status_code == 403
        assert admin(admin_stack, method, path, {}, json={}).status_code == 401


def test_users_are_listed_page_by_page(admin_stack: Stack, admin_headers: dict[str, str]) -> None:
    for _ in range(3):
        admin_stack.register()
    first = admin(admin_stack, "GET", "/users?per_page=2&page=1", admin_headers).json()
    second = admin(admin_stack, "GET", "/users?per_page=2&page=2", admin_headers).json()
    assert len(first["items"]) == 2 and first["total"] >= 4
    assert {u["id"] for u in first["items"]}.isdisjoint({u["id"] for u in second["items"]})
    assert admin(admin_stack, "GET", "/users?per_page=500", admin_headers).status_code == 422
    assert admin(admin_stack, "GET", "/users?page=abc", admin_headers).status_code == 422


@pytest.mark.parametrize(("role", "status"), [("reader", 403), ("librarian", 201), ("admin", 201)])
def test_roles_decide_who_writes_books(
    admin_stack: Stack, admin_headers: dict[str, str], role: str, status: int
) -> None:
    user = admin_stack.register()
    changed = admin(
        admin_stack, "PATCH", f"/users/{user['user']['id']}", admin_headers, json={"role": role}
    )
    assert changed.status_code == 200 and changed.json()["roles"] == [role]
    token = login(admin_stack, user["user"]["username"], STRONG_PASSWORD).json()["access_token"]
    response = requests.post(
        f"{admin_stack.books_url}/books",
        json={"title": f"by a {role}", "author": "x"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == status
    if status == 403:
        assert response.headers["Content-Type"] == "application/problem+json"
        assert "reader" in response.json()["detail"]


def test_bad_role_changes_are_refused(admin_stack: Stack, admin_headers: dict[str, str]) -> None:
    user = admin_stack.register()
    path = f"/users/{user['user']['id']}"
    assert (
        admin(admin_stack, "PATCH", path, admin_headers, json={"role": "emperor"}).status_code
        == 422
    )
    assert (
        admin(admin_stack, "PATCH", path, admin_headers, json={"disabled": "yes"}).status_code
        == 422
    )
    assert (
        admin(
            admin_stack, "PATCH", "/users/999999", admin_headers, json={"role": "reader"}
        ).status_code
        == 404
    )


def test_a_disabled_user_is_locked_out_at_once(
    admin_stack: Stack, admin_headers: dict[str, str]
) -> None:
    user = admin_stack.register()
    name, uid = user["user"]["username"], user["user"]["id"]
    disabled = admin(admin_stack, "PATCH", f"/users/{uid}", admin_headers, json={"disabled": True})
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert login(admin_stack, name, STRONG_PASSWORD).status_code == 403
    assert login(admin_stack, name, "wrong password here").status_code == 401  # no hint
    assert (
        requests.post(
            f"{admin_stack.auth_url}/token/refresh",
            json={"refresh_token": user["refresh_token"]},
            timeout=10,
        ).status_code
        == 401
    )
    assert requests.post(
        f"{admin_stack.auth_url}/validate", json={"token": user["access_token"]}, timeout=10
    ).json() == {"active": False}
    enabled = admin(admin_stack, "PATCH", f"/users/{uid}", admin_headers, json={"disabled": False})
    assert enabled.json()["disabled"] is False
    assert login(admin_stack, name, STRONG_PASSWORD).status_code == 200


def test_deleting_a_user(admin_stack: Stack, admin_headers: dict[str, str]) -> None:
    user = admin_stack.register()
    uid = user["user"]["id"]
    assert admin(admin_stack, "DELETE", f"/users/{uid}", admin_headers).status_code == 204
    assert admin(admin_stack, "DELETE", f"/users/{uid}", admin_headers).status_code == 404
    assert login(admin_stack, user["user"]["username"], STRONG_PASSWORD).status_code == 401
    assert requests.post(
        f"{admin_stack.auth_url}/validate", json={"token": user["access_token"]}, timeout=10
    ).json() == {"active": False}


def test_the_last_admin_cannot_remove_themselves(
    admin_stack: Stack, admin_headers: dict[str, str]
) -> None:
    me = requests.get(f"{admin_stack.auth_url}/me", headers=admin_headers, timeout=10).json()
    users = admin(admin_stack, "GET", "/users?per_page=200", admin_headers).json()["items"]
    for other in users:  # earlier tests may have promoted someone: make this one the last
        if other["roles"] == ["admin"] and other["id"] != me["id"]:
            demoted = admin(
                admin_stack,
                "PATCH",
                f"/users/{other['id']}",
                admin_headers,
                json={"role": "librarian"},
            )
            assert demoted.status_code == 200
    for change in ({"role": "reader"}, {"disabled": True}):
        response = admin(admin_stack, "PATCH", f"/users/{me['id']}", admin_headers, json=change)
        assert response.status_code == 409, response.text
    assert admin(admin_stack, "DELETE", f"/users/{me['id']}", admin_headers).status_code == 409
    assert login(admin_stack, ADMIN, ADMIN_PASSWORD).json()["user"]["roles"] == ["admin"]


def test_the_default_role_of_new_users(admin_stack: Stack, admin_headers: dict[str, str]) -> None:
    assert admin(admin_stack, "GET", "/settings", admin_headers).json() == {
        "default_role": "librarian"
    }
    try:
        changed = admin(
            admin_stack, "PUT", "/settings", admin_headers, json={"default_role": "reader"}
        )
        assert changed.status_code == 200
        assert admin_stack.register()["user"]["roles"] == ["reader"]
        assert (
            admin(
                admin_stack, "PUT", "/settings", admin_headers, json={"default_role": "god"}
            ).status_code
            == 422
        )
    finally:
        admin(admin_stack, "PUT", "/settings", admin_headers, json={"default_role": "librarian"})
    assert admin_stack.register()["user"]["roles"] == ["librarian"]


def test_create_admin_command(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from common.config import PROJECT_ROOT

    env = {
        **os.environ,
        "ESTANTE_DATA_DIR": str(tmp_path),
        "ESTANTE_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    command = [sys.executable, "-m", "auth_service.cli", "create-admin", "--username", "boss"]
    result = subprocess.run(
        command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "boss is an administrator" in result.stdout
    assert ADMIN_PASSWORD not in result.stdout + result.stderr
    weak = subprocess.run(
        command,
        env={**env, "ESTANTE_ADMIN_PASSWORD": "short"},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert weak.returncode == 2
    assert "at least 8 characters" in weak.stderr
