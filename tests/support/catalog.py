"""What the catalog tests share: a private pair of real services per test module and backend,
so each module knows exactly which books exist, and a small client for them.

Each module makes its own fixture with :func:`catalog_fixture`; the services are started by the
harness like every other integration test, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.clients import bearer
from tests.support.harness import Stack, start_stack
from tests.support.tokens import good_claims, sign_with_service_key

BACKENDS = ["sqlite", "postgres"]


@dataclass
class Catalog:
    """The books service of one private stack, with a librarian, an administrator and a reader."""

    stack: Stack
    librarian: dict[str, str] = field(default_factory=dict)
    admin: dict[str, str] = field(default_factory=dict)
    reader: dict[str, str] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        return self.stack.backend

    def url(self, path: str) -> str:
        return self.stack.books_url + path

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return requests.request(method, self.url(path), **kwargs)

    def post(
        self, body: Any, *, query: str = "", headers: dict[str, str] | None = None
    ) -> requests.Response:
        return self.request(
            "POST",
            f"/books{query}",
            json=body,
            headers=self.librarian if headers is None else headers,
        )

    def add(self, query: str = "?allow_duplicate=true", **fields: Any) -> dict[str, Any]:
        """Add a book (title and author made up unless given) and return it."""
        fields.setdefault("title", f"Livro {uuid.uuid4().hex[:8]}")
        if "authors" not in fields:
            fields.setdefault("author", "Autor Qualquer")
        response = self.post(fields, query=query)
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.request("GET", path, params=params)

    def books(self, **params: Any) -> requests.Response:
        """``GET /books`` with these parameters, which must succeed."""
        response = self.get("/books", **params)
        assert response.status_code == 200, response.text
        return response

    def walk(self, path: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a paged list, following ``next`` links from ``path``."""
        items: list[dict[str, Any]] = []
        url: str | None = path
        pages = 0
        while url:
            response = self.request("GET", url, headers=headers)
            assert response.status_code == 200, response.text
            items += response.json()
            url = response.links.get("next", {}).get("url")
            pages += 1
            assert pages < 10_000, "the next links never end"
        return items


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json", response.text
    body = response.json()
    assert body["status"] == status
    assert "Traceback" not in response.text
    return body


def catalog_fixture(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Catalog]:
    """The body of a module's catalog fixture: start a private stack, make the three users."""
    base: Path = tmp_path_factory.mktemp(f"catalog-{request.param}")
    stack = start_stack(request, base, extra_env)
    try:
        reader = sign_with_service_key(stack, good_claims(roles=["reader"], username="rita"))
        admin = sign_with_service_key(stack, good_claims(roles=["admin"], username="chief"))
        yield Catalog(
            stack, librarian=bearer(stack.token()), admin=bearer(admin), reader=bearer(reader)
        )
    finally:
        stack.stop()
