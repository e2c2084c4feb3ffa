"""The served OpenAPI documents are the committed ones, and the docs pages work offline."""

from __future__ import annotations

import json
import re

import pytest
import requests

from common.openapi_export import OPENAPI_DIR, render
from tests.integration.harness import Stack


@pytest.mark.parametrize("service", ["auth", "books"])
def test_served_document_matches_the_committed_copy(stack: Stack, service: str) -> None:
    base = stack.auth_url if service == "auth" else stack.books_url
    served = requests.get(f"{base}/openapi.json", timeout=10)
    assert served.status_code == 200
    document = served.json()
    assert document["openapi"].startswith("3.1")
    committed = (OPENAPI_DIR / f"{service}.json").read_text(encoding="utf-8")
    assert render(document) == committed, (
        f"the {service} API changed: run 'make openapi' and commit docs/openapi/{service}.json"
    )
    # The UI reads the same document from under /docs.
    assert requests.get(f"{base}/docs/openapi.json", timeout=10).json() == document


@pytest.mark.parametrize("service", ["auth", "books"])
def test_every_operation_documents_its_errors_as_problems(stack: Stack, service: str) -> None:
    document = json.loads((OPENAPI_DIR / f"{service}.json").read_text(encoding="utf-8"))
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            for code, response in responses.items():
                if int(code) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (path, code)
            if operation.get("security"):
                assert "401" in responses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= set(responses), (method, path)


@pytest.mark.parametrize("service", ["auth", "books"])
def test_the_docs_page_is_served_with_local_assets(stack: Stack, service: str) -> None:
    base = stack.auth_url if service == "auth" else stack.books_url
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
