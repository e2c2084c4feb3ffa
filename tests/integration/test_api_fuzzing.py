"""Property-based API fuzzing with Schemathesis against both running services.

Every operation of each service's own OpenAPI document gets generated requests (schema-valid
and deliberately invalid) with a bounded budget; every response must have a documented status,
match its documented schema, content type and headers, and never be a 5xx.

(Schemathesis's pytest plugin does not yet run under pytest 9, so the operations are driven
through its Hypothesis strategies directly; the checks are the same.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.harness import Stack

# What the contract promises. (Whether every schema-valid body is accepted is not among them:
# the password and username policies, e.g. "not a common password", go beyond JSON Schema.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BUDGET = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases every run: a failure here is reproducible
    database=None,
)


def fuzz(openapi_url: str, base_url: str, headers: dict[str, str]) -> list[str]:
    """Fuzz every operation; return a description of each operation that failed."""
    schema = schemathesis.openapi.from_url(openapi_url)
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the document lists no operation"
    for operation in operations:

        @BUDGET
        @given(case=operation.as_strategy())
        def honours_the_contract(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

        try:
            honours_the_contract()
        except Exception as error:
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    return failures


@pytest.fixture(scope="module")
def bearer(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token()}"}


@pytest.mark.parametrize("service", ["auth", "books"])
def test_each_service_honours_its_own_contract(
    stack: Stack, bearer: dict[str, str], service: str
) -> None:
    base_url = stack.auth_url if service == "auth" else stack.books_url
    failures = fuzz(f"{base_url}/openapi.json", base_url, bearer)
    assert not failures, "\n\n".join(failures)
