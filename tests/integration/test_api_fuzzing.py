"""Property-based API fuzzing with Schemathesis against both running services.

Every operation of each service's own OpenAPI document gets generated requests with a bounded
budget, schema-valid ("positive") and deliberately invalid ("negative") ones: every response
must have a documented status, match its documented schema, content type and headers, and never
be a 5xx, and invalid requests must be refused. A stateful run follows the document's links:
it creates books and then reads, replaces, patches and deletes exactly those.

Schema-valid is not always valid: an ISBN's check digit, a language code that exists, a
password that is not a common one, a free username, the token of a live session are rules no
JSON Schema states. So that the paths that succeed are fuzzed too, positive cases are completed
the way a client that knows those rules completes them (a Schemathesis hook, with the services'
own models), and requests are sent with the credentials they need (a fresh session where the
request ends one, an administrator's token for administration). The tests then assert that
writes and linked steps did succeed, not only that nothing failed.

(Schemathesis's pytest plugin does not yet run under pytest 9, so the operations are driven
through its Hypothesis strategies directly; the checks are the same.)
"""

from __future__ import annotations

import unicodedata
import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import BaseModel, ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from auth_service import schemas as auth_schemas
from books_service import schemas as books_schemas
from common.openapi import examples_of
from tests.support.harness import STRONG_PASSWORD, Stack, start_stack

# What the contract promises, for every answer.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# And along links: what was created can be read, what was deleted cannot.
STATEFUL_CHECKS = [use_after_free, ensure_resource_availability]
# Refusals of invalid input: 412/428 for If-Match, 413 for a body over the limit.
REFUSALS = ["400", "401", "403", "404", "409", "412", "413", "415", "422", "428", "429"]
CONFIG = {
    "checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}},
    # Credentials are the callers' below (a token a case made up is only ever a 401).
    "generation": {"with-security-parameters": False},
    # The links the document declares, not ones Schemathesis would infer.
    "phases": {"stateful": {"inference": {"algorithms": []}}},
}
EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 10}
# Deprecated aliases (/auth/login) run the same code as what they alias: a smaller budget.
ALIAS_EXAMPLES = 5
# RFC 7009: revocation answers 200 whatever it is sent (an unknown token is no error).
EXCUSED = {"POST /revoke": [negative_data_rejection]}


def budget(max_examples: int, **more: Any) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same cases every run: a failure here is reproducible
        database=None,
        # Shrinking replays cases against services whose data has moved on since.
        phases=[Phase.generate],
        **more,
    )


# The models that check each operation's parts in the services: what a positive case is made
# to pass (JSON Schema cannot say everything they check).
MODELS: dict[str, dict[str, type[BaseModel]]] = {
    "GET /books": {"query": books_schemas.BookQuery},
    "POST /books": {"query": books_schemas.WriteQuery, "body": books_schemas.BookFields},
    "GET /books/{book_id}": {"headers": books_schemas.IfNoneMatch},
    "PUT /books/{book_id}": {
        "query": books_schemas.WriteQuery,
        "headers": books_schemas.IfMatch,
        "body": books_schemas.BookFields,
    },
    "PATCH /books/{book_id}": {
        "query": books_schemas.WriteQuery,
        "headers": books_schemas.IfMatch,
        "body": books_schemas.BookPatch,
    },
    "DELETE /books/{book_id}": {"headers": books_schemas.IfMatch},
    "POST /register": {"body": auth_schemas.RegisterRequest},
    "POST /auth/register": {"body": auth_schemas.RegisterRequest},
    "POST /me/password": {"body": auth_schemas.ChangePasswordRequest},
    "PATCH /admin/users/{user_id}": {"body": auth_schemas.UserPatch},
    "PUT /admin/settings": {"body": auth_schemas.AccountSettings},
}


def printable(value: Any) -> Any:
    """Strings without control characters, line or paragraph separators and lone surrogates
    (refused by every one-line text field)."""
    if isinstance(value, str):
        return "".join(
            ch for ch in value if unicodedata.category(ch) not in ("Cc", "Cs", "Zl", "Zp")
        )
    if isinstance(value, list):
        return [printable(item) for item in value]
    if isinstance(value, dict):
        return {key: printable(item) for key, item in value.items()}
    return value


def made_valid(values: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """``values`` as the model accepts them: text made printable, then each refused member
    replaced by the model's example of it, or left out when it has none."""
    example = examples_of(model)[0]
    values = printable(values)
    for _ in range(len(values) + 2):
        try:
            model.model_validate(values)
            return values
        except ValidationError as error:
            fields = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
        if not fields:  # a rule across fields (two years that differ): the example
            return dict(example)
        for name in fields:
            if name in example:
                values[name] = example[name]
            else:
                values.pop(name, None)
    return dict(example)


def complete_positive_cases(context: schemathesis.HookContext, case: schemathesis.Case) -> Any:
    """A Schemathesis ``map_case`` hook: positive cases made valid for the services' models;
    negative ones are sent as generated."""
    meta = case.meta
    if meta is None or meta.generation.mode.is_negative:
        return case
    for container, model in MODELS.get(case.operation.label, {}).items():
        current = getattr(case, container)
        if not isinstance(current, Mapping):
            continue
        names = {info.alias or name for name, info in model.model_fields.items()}
        mine = {key: value for key, value in current.items() if key in names}
        valid = made_valid(mine, model)
        if container == "headers":  # a case-insensitive dict: changed in place
            for key in set(mine) - set(valid):
                del current[key]
            current.update(valid)
        else:  # members the model does not know (ignored by the service) stay
            others = {key: value for key, value in current.items() if key not in mine}
            setattr(case, container, {**others, **valid})
    return case


def load(url: str) -> Any:
    schema = schemathesis.openapi.from_url(url, config=schemathesis.Config.from_dict(CONFIG))
    schema.hooks.register_hook_with_name(complete_positive_cases, "map_case")
    return schema


def share(case: schemathesis.Case, parts: int) -> int:
    """A stable choice among ``parts`` for a case (hash() differs between runs)."""
    return zlib.crc32(repr((case.path_parameters, case.query, case.body)).encode()) % parts


@dataclass
class Tally:
    """Statuses per operation (or per link followed), to assert what succeeded."""

    statuses: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    def record(self, label: str, status: int) -> None:
        self.statuses[label][status] += 1

    def succeeded(self, label: str) -> int:
        return sum(n for status, n in self.statuses[label].items() if 200 <= status < 300)

    def report(self) -> str:
        return "\n".join(f"{label}: {dict(counts)}" for label, counts in self.statuses.items())


ADMIN, ADMIN_PASSWORD = "fuzz.admin", "a long admin passphrase"


@dataclass
class Callers:
    """Who sends each request: accounts made for the run, and fresh ones where a request ends
    its own session or changes its own account; and what the request acts on."""

    stack: Stack
    librarian: dict[str, Any] = field(init=False)
    admin: dict[str, Any] = field(init=False)
    # What positive cases act on, by kind; a delete has its own, so that the others still
    # find theirs. Never the administrator itself: a fuzzed "demote" would end administration.
    pools: dict[tuple[str, bool], list[int]] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.librarian = self.stack.register(f"librarian_{uuid.uuid4().hex[:8]}")
        self.admin = self.login(ADMIN, ADMIN_PASSWORD)
        token = self.librarian["access_token"]
        for deleting in (False, True):
            self.pools["user", deleting] = [self.stack.register()["user"]["id"] for _ in range(5)]
            self.pools["book", deleting] = [
                self.stack.add_book(token, title=f"Livro {n}")["id"] for n in range(4)
            ]
            self.pools["deleted", deleting] = [
                self.stack.add_book(token, title=f"Apagado {n}")["id"] for n in range(4)
            ]
            for book_id in self.pools["deleted", deleting]:
                deleted = requests.delete(
                    f"{self.stack.books_url}/books/{book_id}",
                    headers=self.bearer(self.librarian),
                    timeout=10,
                )
                assert deleted.status_code == 204, deleted.text

    def login(self, username: str, password: str = STRONG_PASSWORD) -> dict[str, Any]:
        response = requests.post(
            f"{self.stack.auth_url}/login",
            json={"username": username, "password": password},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def fresh_session(self) -> dict[str, Any]:
        return self.login(self.librarian["user"]["username"])

    def bearer(self, tokens: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens['access_token']}"}

    def prepare(self, case: schemathesis.Case) -> dict[str, str]:
        """Complete a case with what only the running services know; return its headers."""
        label = case.operation.label
        positive = not case.meta.generation.mode.is_negative if case.meta else True
        body = case.body if isinstance(case.body, dict) else None
        # Negative cases too: with a made-up id every invalid body or header on /books/{id}
        # would meet a 404 first, and a validation gap there would go unseen.
        self._aim(case)
        if " /admin/" in label or "/books/deleted" in label or label.endswith("/restore"):
            return self.bearer(self.admin)
        if label in ("POST /register", "POST /auth/register") and positive and body:
            body["username"] = self._unique(body["username"])
        if label in ("POST /login", "POST /auth/login") and positive and body and share(case, 2):
            body.update(username=self.librarian["user"]["username"], password=STRONG_PASSWORD)
        if label in ("POST /token/refresh", "POST /logout") and positive and body:
            body["refresh_token"] = self.fresh_session()["refresh_token"]
        if label in ("POST /validate", "POST /introspect"):
            if positive and body:
                body["token"] = self.librarian["access_token"]
            # Their schema requires the token in the body; that the caller's own bearer token
            # stands in for a missing one is said in prose only, so none is sent.
            return {}
        if label in ("POST /me/password", "POST /logout-all"):
            # They end every (other) session of the account: an account of their own.
            account = self.stack.register()
            if label == "POST /me/password" and positive and body:
                body["current_password"] = STRONG_PASSWORD
            return self.bearer(account)
        if label == "POST /revoke":
            if positive and body:
                body["token"] = self.fresh_session()["refresh_token"]
            return {}  # as for /validate
        return self.bearer(self.librarian)

    def _aim(self, case: schemathesis.Case) -> None:
        """A generated id becomes one of the pool's for that kind of operation."""
        label = case.operation.label
        deleting = label.startswith("DELETE")
        for name, value in case.path_parameters.items():
            if not isinstance(value, int) or isinstance(value, bool):
                continue
            kind = "user" if name == "user_id" else "book"
            if kind == "book" and ("/deleted/" in label or label.endswith("/restore")):
                kind = "deleted"
            pool = self.pools[kind, deleting]
            case.path_parameters[name] = pool[value % len(pool)]

    def _unique(self, username: str) -> str:
        """A username not registered yet in this run (409 otherwise, which is fine but not
        what positive cases are for)."""
        name, n = username, 0
        while name.casefold() in self.taken:
            n += 1
            name = f"{username[:50]}_{n}"
        self.taken.add(name.casefold())
        return name


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A pair of services of its own: administration and logging out everywhere change what
    other tests would share."""
    running = start_stack(
        request,
        tmp_path_factory.mktemp(f"fuzz-{request.param}"),
        {
            "ESTANTE_ADMIN_USERNAME": ADMIN,
            "ESTANTE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        },
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def callers(fuzz_stack: Stack) -> Callers:
    return Callers(fuzz_stack)


def fuzz(base_url: str, callers: Callers, tally: Tally) -> list[str]:
    """Fuzz every operation in both modes; return a description of each one that failed."""
    schema = load(f"{base_url}/openapi.json")
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the document lists no operation"
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            if operation.definition.raw.get("deprecated"):
                examples = ALIAS_EXAMPLES

            @budget(examples)
            @given(case=operation.as_strategy(generation_mode=mode))
            def honours_the_contract(case: schemathesis.Case) -> None:
                headers = callers.prepare(case)
                checks = [c for c in CHECKS if c not in EXCUSED.get(case.operation.label, [])]
                response = case.call_and_validate(base_url=base_url, headers=headers, checks=checks)
                tally.record(case.operation.label, response.status_code)

            try:
                honours_the_contract()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to get wrong
            except (Exception, BaseExceptionGroup) as error:  # Schemathesis's FailureGroup
                failures.append(f"{operation.label} ({mode.value}): {error}")
    return failures


# What must have succeeded at least once: the fuzzing reached past validation.
MUST_SUCCEED = {
    "auth": [
        "POST /register",
        "POST /login",
        "POST /token/refresh",
        "POST /logout",
        "POST /logout-all",
        "GET /me",
        "POST /me/password",
        "POST /validate",
        "POST /revoke",
        "GET /admin/users",
        "GET /admin/users/{user_id}",
        "PATCH /admin/users/{user_id}",
        "DELETE /admin/users/{user_id}",
        "PUT /admin/settings",
    ],
    "books": [
        "GET /books",
        "POST /books",
        "GET /books/{book_id}",
        "PUT /books/{book_id}",
        "PATCH /books/{book_id}",
        "DELETE /books/{book_id}",
        "GET /books/{book_id}/history",
        "GET /books/deleted",
        "GET /books/deleted/{book_id}",
        "POST /books/{book_id}/restore",
    ],
}


@pytest.mark.parametrize("service", ["auth", "books"])
def test_each_service_honours_its_own_contract(
    fuzz_stack: Stack, callers: Callers, service: str
) -> None:
    base_url = fuzz_stack.auth_url if service == "auth" else fuzz_stack.books_url
    tally = Tally()
    try:
        failures = fuzz(base_url, callers, tally)
    finally:
        if service == "auth":  # new accounts get the default role again
            requests.put(
                f"{fuzz_stack.auth_url}/admin/settings",
                json={"default_role": "librarian"},
                headers=callers.bearer(callers.admin),
                timeout=10,
            )
    assert not failures, "\n\n".join(failures)
    missing = [label for label in MUST_SUCCEED[service] if not tally.succeeded(label)]
    assert not missing, f"never succeeded: {missing}\n{tally.report()}"


def test_created_books_link_to_their_operations(fuzz_stack: Stack) -> None:
    document = requests.get(f"{fuzz_stack.books_url}/openapi.json", timeout=10).json()
    links = document["paths"]["/books"]["post"]["responses"]["201"]["links"]
    changes = {"PutCreated", "PatchCreated", "DeleteCreated"}
    assert changes | {"GetCreated", "GetCreatedHistory"} <= set(links)
    for name, link in links.items():
        assert link["parameters"]["book_id"] == "$response.body#/id"
        # Changing what was just created: with the ETag it was created with.
        if name in changes:
            assert link["parameters"]["header.If-Match"] == "$response.header.ETag"


def creates_succeed(context: schemathesis.HookContext, case: schemathesis.Case) -> Any:
    """Positive creates that succeed whatever came before (no ISBN, duplicates allowed): a
    scenario must not depend on what earlier ones left, or Hypothesis finds it flaky."""
    meta = case.meta
    if case.operation.label == "POST /books" and meta and not meta.generation.mode.is_negative:
        case.query = {**case.query, "allow_duplicate": True}
        if isinstance(case.body, dict):
            case.body = {key: value for key, value in case.body.items() if key != "isbn"}
    return case


LINKED = ["GetCreated", "PutCreated", "PatchCreated", "DeleteCreated", "GetCreatedHistory"]


def test_stateful_create_read_update_delete(fuzz_stack: Stack, callers: Callers) -> None:
    """Schemathesis follows the links: it creates books and then reads, changes and deletes
    exactly those, checking every answer against the contract, and that what was created can
    be read and what was deleted cannot."""
    schema = load(f"{fuzz_stack.books_url}/openapi.json")
    schema.hooks.register_hook_with_name(creates_succeed, "map_case")
    tally = Tally()
    headers = callers.bearer(callers.librarian)

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
            return {"base_url": fuzz_stack.books_url, "headers": headers}

        def step(self, input: Any) -> Any:
            output = super().step(input)
            transition = input.transition
            if transition is None:
                label = input.case.operation.label
            else:  # "POST /books -> [201] GetCreated -> GET /books/{book_id}"
                label = transition.id.split("] ")[1].split(" ->")[0]
                if not input.is_applied:
                    label += " (not applied)"
            tally.record(label, output.response.status_code)
            return output

        def validate_response(
            self,
            response: Any,
            case: schemathesis.Case,
            additional_checks: list[Callable[..., Any]] | None = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(
                response,
                checks=CHECKS + STATEFUL_CHECKS,
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    Workflow.run(settings=budget(20, stateful_step_count=6))
    assert tally.succeeded("POST /books"), tally.report()
    missing = [name for name in LINKED if not tally.succeeded(name)]
    assert not missing, f"links never followed to a success: {missing}\n{tally.report()}"
