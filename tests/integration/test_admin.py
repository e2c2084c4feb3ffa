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
    assert any(u["username"] == ADMIN and u["roles"] == ["admin"] for u in users)


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


def test_users_are_listed_page_by_page_like_books(
    admin_stack: Stack, admin_headers: dict[str, str]
) -> None:
    """The same paging as GET /books: a JSON array, ``limit`` and an opaque ``cursor``, a Link
    header with first, next, prev and last, and X-Total-Count."""
    for _ in range(3):
        admin_stack.register()
    first = admin(admin_stack, "GET", "/users?limit=2", admin_headers)
    assert first.status_code == 200, first.text
    total = int(first.headers["X-Total-Count"])
    assert isinstance(first.json(), list) and len(first.json()) == 2 and total >= 4
    assert set(first.links) == {"first", "next", "last"}
    assert first.links["next"]["url"].startswith("/admin/users?")
    seen: list[int] = []
    url: str | None = "/admin/users?limit=2"
    while url:
        page = requests.get(f"{admin_stack.auth_url}{url}", headers=admin_headers, timeout=10)
        assert page.status_code == 200, page.text
        assert page.headers["X-Total-Count"] == str(total)
        seen += [user["id"] for user in page.json()]
        url = page.links.get("next", {}).get("url")
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == total  # oldest first, once
    last = admin(
        admin_stack, "GET", first.links["last"]["url"].removeprefix("/admin"), admin_headers
    )
    assert [user["id"] for user in last.json()] == seen[-2:]
    assert "prev" in last.links and "next" not in last.links
    for bad in ("limit=501", "limit=0", "limit=abc", "cursor=not-a-cursor"):
        response = admin(admin_stack, "GET", f"/users?{bad}", admin_headers)
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["Content-Type"] == "application/problem+json"
    books_cursor = requests.get(f"{admin_stack.books_url}/books?limit=1", timeout=10).links
    if "next" in books_cursor:  # a cursor of another list is refused, not misread
        cursor = books_cursor["next"]["url"].partition("cursor=")[2]
        response = admin(admin_stack, "GET", f"/users?cursor={cursor}", admin_headers)
        assert response.status_code == 422


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


def test_a_user_is_changed_in_the_shape_it_is_read(
    admin_stack: Stack, admin_headers: dict[str, str]
) -> None:
    """GET shows ``roles``: sending ``roles`` back changes the role (and the old ``role``
    still works)."""
    user = admin_stack.register()
    path = f"/users/{user['user']['id']}"
    shown = admin(admin_stack, "GET", path, admin_headers).json()
    assert shown["roles"] == ["librarian"]
    demoted = admin(admin_stack, "PATCH", path, admin_headers, json={"roles": ["reader"]})
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["roles"] == ["reader"]
    assert admin(admin_stack, "GET", path, admin_headers).json()["roles"] == ["reader"]
    back = admin(admin_stack, "PATCH", path, admin_headers, json={"role": "librarian"})
    assert back.json()["roles"] == ["librarian"]
    both = admin(
        admin_stack, "PATCH", path, admin_headers, json={"role": "reader", "roles": ["reader"]}
    )
    assert both.status_code == 200 and both.json()["roles"] == ["reader"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rol": "reader"}, "rol"),
        ({"roles": ["reader"], "disabld": True}, "disabld"),
        ({"username": "renamed"}, "username"),
        ({}, "body"),
        ({"roles": None, "disabled": None}, "body"),
        ({"roles": []}, "roles"),
        ({"roles": ["reader", "admin"]}, "roles"),
        ({"roles": "reader"}, "roles"),
        ({"role": "admin", "roles": ["reader"]}, "body"),
    ],
)
def test_a_user_change_that_is_a_mistake_is_refused_and_changes_nothing(
    admin_stack: Stack, admin_headers: dict[str, str], change: dict[str, Any], field: str
) -> None:
    user = admin_stack.register()
    path = f"/users/{user['user']['id']}"
    before = admin(admin_stack, "GET", path, admin_headers).json()
    response = admin(admin_stack, "PATCH", path, admin_headers, json=change)
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert admin(admin_stack, "GET", path, admin_headers).json() == before


def test_a_settings_change_with_an_unknown_field_is_refused(
    admin_stack: Stack, admin_headers: dict[str, str]
) -> None:
    response = admin(
        admin_stack,
        "PUT",
        "/settings",
        admin_headers,
        json={"default_role": "reader", "defualt_role": "reader"},
    )
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["defualt_role"]
    assert admin(admin_stack, "GET", "/settings", admin_headers).json() == {
        "default_role": "librarian"
    }


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
    users = admin(admin_stack, "GET", "/users?limit=500", admin_headers).json()
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
