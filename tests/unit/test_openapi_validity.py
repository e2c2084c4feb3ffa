"""The committed OpenAPI documents are valid OpenAPI 3.1, as openapi-spec-validator reads it
(the served ones are checked against these copies and validated in the integration tests)."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from common.config import PROJECT_ROOT

OPENAPI_DIR = PROJECT_ROOT / "docs" / "openapi"


@pytest.mark.parametrize("service", ["auth", "books"])
def test_the_committed_document_is_valid_openapi(service: str) -> None:
    document = json.loads((OPENAPI_DIR / f"{service}.json").read_text(encoding="utf-8"))
    validate(document)  # raises, naming the part that is wrong
