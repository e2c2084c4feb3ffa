"""Property-based API fuzzing with Schemathesis against both running services.

Every operation of each service's own OpenAPI document gets generated requests (schema-valid
and deliberately invalid) with a bounded budget; every response must have a documented status,
match its documented schema, content type and headers, and never be a 5xx.

(Schemathesis's pytest plugin does not yet run under pytest 9, so the operations are driven
through its Hypothesis strategies directly; the checks are the same.)
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import run_state_machine_as_test
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


def test_created_books_link_to_their_operations(stack: Stack) -> None:
    document = requests.get(f"{stack.books_url}/openapi.json", timeout=10).json()
    links = document["paths"]["/books"]["post"]["responses"]["201"]["links"]
    assert {"GetCreated", "PutCreated", "PatchCreated", "DeleteCreated"} <= set(links)
    assert all(link["parameters"] == {"book_id": "$response.body#/id"} for link in links.values())


def test_stateful_create_read_update_delete(stack: Stack, bearer: dict[str, str]) -> None:
    """Schemathesis follows the links: it creates books and then reads, changes and deletes
    exactly those, checking every answer against the contract."""
    schema = schemathesis.openapi.from_url(f"{stack.books_url}/openapi.json")

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
            return {"base_url": stack.books_url, "headers": bearer}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            case.validate_response(response, checks=CHECKS)

    run_state_machine_as_test(
        Workflow,
        settings=settings(
            max_examples=15,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        ),
    )
