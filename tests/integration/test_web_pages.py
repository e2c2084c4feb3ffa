"""The web service's pages against the real Auth and Books Services."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.integration.web_support import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    csrf_of,
    new_librarian,
    web_app,
)
from tests.support.harness import Stack, build_stack


@pytest.fixture(scope="module")
def apis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = build_stack(
        tmp_path_factory.mktemp("web-apis"),
        "sqlite",
        extra_env={"ESTANTE_ADMIN_USERNAME": ADMIN_NAME, "ESTANTE_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    try:
        stack.auth.start()
        stack.books.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def app(apis: Stack, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return web_app(apis, tmp_path_factory.mktemp("web-data"))


def test_smoke(apis: Stack, app: Flask) -> None:
    client = app.test_client()
    assert client.get("/").status_code == 200
    new_librarian(apis, client)
    page = client.get("/books/new")
    assert page.status_code == 200
    token = csrf_of(client, "/books/new")
    response = client.post(
        "/books/new",
        data={
            "csrf_token": token,
            "title": "Memórias Póstumas",
            "authors": "Machado de Assis",
            "isbn": "978-85-359-0277-8",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    book = client.get(response.headers["Location"])
    print(book.get_data(as_text=True))
    assert book.status_code == 200
