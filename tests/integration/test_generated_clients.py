"""Clients generated from the OpenAPI documents work: openapi-python-client, the usual Python
generator, builds a client of each service with no warning (no operation left out), and the
spec's flow runs through those clients against the real services: register, log in, list, add,
update, delete."""

from __future__ import annotations

import importlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from common.config import PROJECT_ROOT
from tests.support.harness import STRONG_PASSWORD, Stack

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
OPENAPI_DIR = PROJECT_ROOT / "docs" / "openapi"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Generate both clients once; yields each generator's output, with the packages
    importable as ``estante_auth_client`` and ``estante_books_client``."""
    if not GENERATOR.exists():
        pytest.fail(f"{GENERATOR} is missing: it is a locked development dependency")
    base = tmp_path_factory.mktemp("clients")
    config = base / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run on the generated code
    outputs = {}
    for service in ("auth", "books"):
        result = subprocess.run(
            [
                str(GENERATOR),
                "generate",
                "--path",
                str(OPENAPI_DIR / f"{service}.json"),
                "--output-path",
                str(base / f"estante_{service}_client"),
                "--meta",
                "none",
                "--config",
                str(config),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        outputs[service] = result.stdout + result.stderr
        assert result.returncode == 0, outputs[service]
    sys.path.insert(0, str(base))
    yield outputs
    sys.path.remove(str(base))
    for name in list(sys.modules):
        if name.partition(".")[0] in ("estante_auth_client", "estante_books_client"):
            del sys.modules[name]


@pytest.mark.parametrize("service", ["auth", "books"])
def test_every_operation_is_generated_without_a_warning(
    generated: dict[str, str], service: str
) -> None:
    output = generated[service]
    assert "will not be generated" not in output, output
    assert "Unable to parse" not in output, output
    assert "Warning" not in output, output


def operation(package: str, tag: str, name: str) -> ModuleType:
    return importlib.import_module(f"{package}.api.{tag}.{name}")


def test_the_spec_flow_runs_through_the_generated_clients(
    generated: dict[str, str], stack: Stack
) -> None:
    auth: Any = importlib.import_module("estante_auth_client")
    auth_models: Any = importlib.import_module("estante_auth_client.models")
    books: Any = importlib.import_module("estante_books_client")
    books_models: Any = importlib.import_module("estante_books_client.models")
    register = operation("estante_auth_client", "accounts", "auth_register_register_post")
    log_in = operation("estante_auth_client", "accounts", "auth_log_in_login_post")
    list_books = operation("estante_books_client", "books", "books_list_books_books_get")
    add_book = operation("estante_books_client", "books", "books_add_book_books_post")
    replace_book = operation(
        "estante_books_client", "books", "books_replace_book_books_int_book_id_put"
    )
    get_book = operation("estante_books_client", "books", "books_get_book_books_int_book_id_get")
    delete_book = operation(
        "estante_books_client", "books", "books_delete_book_books_int_book_id_delete"
    )

    username = f"generated_{uuid.uuid4().hex[:10]}"
    with auth.Client(base_url=stack.auth_url) as client:
        registered = register.sync_detailed(
            client=client,
            body=auth_models.RegisterRequest(username=username, password=STRONG_PASSWORD),
        )
        assert registered.status_code == 201, registered.content
        logged_in = log_in.sync(
            client=client,
            body=auth_models.LoginRequest(username=username, password=STRONG_PASSWORD),
        )
    assert isinstance(logged_in, auth_models.TokenResponse), logged_in
    assert logged_in.user.username == username

    title = f"Gerado {uuid.uuid4().hex[:8]}"
    with books.Client(base_url=stack.books_url) as public:
        listed = list_books.sync_detailed(client=public, q=title)
        assert listed.status_code == 200 and listed.parsed == []
    token = logged_in.access_token
    with books.AuthenticatedClient(base_url=stack.books_url, token=token) as client:
        added = add_book.sync_detailed(
            client=client, body=books_models.BookFields(title=title, author="Cliente Gerado")
        )
        assert added.status_code == 201, added.content
        book = added.parsed
        assert book.authors == ["Cliente Gerado"] and book.version == 1
        replaced = replace_book.sync_detailed(
            book.id,
            client=client,
            body=books_models.BookFields(title=title, authors=["Outra Pessoa"], copies=3),
            if_match=added.headers["ETag"],
        )
        assert replaced.status_code == 200, replaced.content
        assert replaced.parsed.author == "Outra Pessoa" and replaced.parsed.copies == 3
        read = get_book.sync(book.id, client=client)
        assert read.version == 2
        deleted = delete_book.sync_detailed(
            book.id, client=client, if_match=replaced.headers["ETag"]
        )
        assert deleted.status_code == 204, deleted.content
        gone = get_book.sync_detailed(book.id, client=client)
        assert gone.status_code == 404
        assert isinstance(gone.parsed, books_models.Problem)
