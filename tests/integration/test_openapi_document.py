"""The served OpenAPI documents: the committed ones, complete (errors, 503s, examples that fit
their schemas), true when the database is down, and their docs pages work offline."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from common.openapi import METHODS, WITHOUT_DATABASE
from ops.openapi_export import OPENAPI_DIR, render
from tests.support.harness import Stack, build_stack, free_port
from tests.support.tcp_proxy import TcpProxy

SERVICES = ["auth", "books"]


def base_url(stack: Stack, service: str) -> str:
    return stack.auth_url if service == "auth" else stack.books_url


def served(stack: Stack, service: str) -> dict[str, Any]:
    response = requests.get(f"{base_url(stack, service)}/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


@pytest.mark.parametrize("service", SERVICES)
def test_served_document_matches_the_committed_copy(stack: Stack, service: str) -> None:
    document = served(stack, service)
    assert document["openapi"].startswith("3.1")
    committed = (OPENAPI_DIR / f"{service}.json").read_text(encoding="utf-8")
    assert render(document) == committed, (
        f"the {service} API changed: run 'make openapi' and commit docs/openapi/{service}.json"
    )
    # The UI reads the same document from under /docs.
    docs_copy = requests.get(f"{base_url(stack, service)}/docs/openapi.json", timeout=10)
    assert docs_copy.json() == document


@pytest.mark.parametrize("service", SERVICES)
def test_the_served_document_is_valid_openapi(stack: Stack, service: str) -> None:
    validate(served(stack, service))


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_documents_its_errors_as_problems(stack: Stack, service: str) -> None:
    for path, method, operation in operations(served(stack, service)):
        responses = operation["responses"]
        assert any(code.startswith("2") for code in responses), (method, path)
        for code, response in responses.items():
            if int(code) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (path, code)
        if operation.get("security"):
            assert "401" in responses, (method, path)
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= set(responses), (method, path)
        if path not in WITHOUT_DATABASE:
            assert "503" in responses, (method, path)
            assert "Retry-After" in responses["503"]["headers"], (method, path)


def media_with_bodies(operation: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Request bodies, and the JSON bodies of successes."""
    for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
        yield f"request {media_type}", media
    for code, response in operation["responses"].items():
        for media_type, media in response.get("content", {}).items():
            if code.startswith("2") and media_type.endswith("json"):
                yield f"{code} {media_type}", media


def examples_in(media: dict[str, Any]) -> list[Any]:
    examples = [media["example"]] if "example" in media else []
    return examples + [entry["value"] for entry in media.get("examples", {}).values()]


@pytest.mark.parametrize("service", SERVICES)
def test_every_body_and_success_has_an_example_that_fits_its_schema(
    stack: Stack, service: str
) -> None:
    document = served(stack, service)
    checked = 0
    for path, method, operation in operations(document):
        for where, media in media_with_bodies(operation):
            examples = examples_in(media)
            assert examples, f"{method.upper()} {path} ({where}) has no example"
            # The document's components go along, so "#/components/..." resolves.
            schema = {**media["schema"], "components": document["components"]}
            validator = Draft202012Validator(schema)
            for example in examples:
                errors = [error.message for error in validator.iter_errors(example)]
                assert not errors, f"{method.upper()} {path} ({where}): {errors}"
                checked += 1
    assert checked >= (15 if service == "books" else 25)


@pytest.mark.parametrize("service", SERVICES)
def test_the_docs_page_works_offline(stack: Stack, service: str) -> None:
    base = base_url(stack, service)
    page = requests.get(f"{base}/docs", timeout=10)  # follows the redirect to the UI
    assert page.status_code == 200
    assert "swagger" in page.text.lower()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets
    for asset in assets:
        assert not asset.startswith(("http://", "https://", "//")), f"{asset} needs the network"
        fetched = requests.get(requests.compat.urljoin(page.url, asset), timeout=10)
        assert fetched.status_code == 200, asset
    assert "openapi.json" in page.text
    # Swagger UI's default sends the document to validator.swagger.io for a badge.
    config = re.search(r"swagger_config = JSON\.parse\(`(.*?)`\)", page.text)
    assert config, "the page's Swagger UI configuration is not where it was"
    settings = json.loads(config.group(1))
    assert "validatorUrl" in settings and settings["validatorUrl"] is None
    assert "validator.swagger.io" not in page.text


ADMIN, ADMIN_PASSWORD = "outage.admin", "a long admin passphrase"


@pytest.fixture(scope="module")
def outage(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, TcpProxy]]:
    """Both services on PostgreSQL through a connection that can be cut."""
    server = request.getfixturevalue("postgres")
    proxy = TcpProxy(("127.0.0.1", 5432), free_port()).start()
    through_proxy = f"127.0.0.1:{proxy.port}"
    urls = {
        name: server.create_database(name).replace("127.0.0.1:5432", through_proxy)
        for name in SERVICES
    }
    admin = {"ESTANTE_ADMIN_USERNAME": ADMIN, "ESTANTE_ADMIN_PASSWORD": ADMIN_PASSWORD}
    stack = build_stack(tmp_path_factory.mktemp("outage"), "postgres", urls, admin)
    try:
        stack.auth.start()
        stack.books.start()
        yield stack, proxy
    finally:
        proxy.stop()
        stack.stop()


def call(
    url: str, method: str, operation: dict[str, Any], values: dict[str, Any]
) -> requests.Response:
    """The operation as a client that knows what it is doing sends it: real ids and tokens,
    the documented example as the body."""
    content = operation.get("requestBody", {}).get("content", {})
    body = form = files = None
    if "application/json" in content:
        example = examples_in(content["application/json"])[0]
        body = {name: values.get(name, value) for name, value in example.items()}
    if "multipart/form-data" in content:  # an upload: the example's file as a file part
        example = examples_in(content["multipart/form-data"])[0]
        form = {k: str(v).lower() if isinstance(v, bool) else v for k, v in example.items()}
        files = {"file": ("example", form.pop("file").encode())}
    return requests.request(
        method,
        url.format(**values),
        json=body,
        data=form,
        files=files,
        headers={"Authorization": f"Bearer {values['token']}"},
        timeout=30,
    )


def test_with_the_database_down_every_operation_that_needs_it_answers_503(
    outage: tuple[Stack, TcpProxy],
) -> None:
    stack, proxy = outage
    login = requests.post(
        f"{stack.auth_url}/login",
        json={"username": ADMIN, "password": ADMIN_PASSWORD},
        timeout=10,
    ).json()
    values = {"token": login["access_token"], "refresh_token": login["refresh_token"]}
    values |= {"user_id": login["user"]["id"], "book_id": stack.add_book(values["token"])["id"]}
    values |= {"import_id": 1}
    documents = {service: served(stack, service) for service in SERVICES}
    proxy.stop()
    try:
        answered = []
        for service, document in documents.items():
            for path, method, operation in operations(document):
                url = base_url(stack, service) + path
                response = call(url, method, operation, values)
                label = f"{method.upper()} {path}: {response.status_code} {response.text[:200]}"
                answered.append(label)
                assert str(response.status_code) in operation["responses"], label
                if path not in WITHOUT_DATABASE:
                    assert response.status_code == 503, label
                    assert response.headers["Content-Type"] == "application/problem+json"
                    assert int(response.headers["Retry-After"]) > 0
        assert len(answered) >= 30
    finally:
        proxy.start()
