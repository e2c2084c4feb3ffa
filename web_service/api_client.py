"""The Auth and Books Services as seen from the web service: HTTP calls with httpx, their
problem+json answers turned into exceptions the pages can explain.

The web service never opens another service's database: everything goes through here."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, cast

# httpx's package imports its command-line client whenever click, rich and pygments are
# installed (they are, for the estante command): 3.7 MB in every web process, which never runs
# it. httpx treats that module as optional (without it, ``httpx.main`` says what is missing),
# and None in ``sys.modules`` is Python's documented way to make an import fail.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", cast(Any, None))

import httpx
from flask import g, has_request_context

from common.request_log import REQUEST_ID_HEADER

BASE_HEADERS = {"User-Agent": "estante-web", "Accept": "*/*"}
READS = frozenset({"GET", "HEAD", "OPTIONS"})


class ServiceDown(Exception):
    """The service did not answer (refused, timed out) or said it cannot right now (5xx)."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


@dataclass
class ApiProblem(Exception):
    """A 4xx (or unexpected) answer, with what its problem+json body says."""

    status: int
    title: str = ""
    detail: str = ""
    type: str = "about:blank"
    errors: list[dict[str, str]] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"

    def field_errors(self) -> dict[str, list[dict[str, str]]]:
        """The invalid fields by form field name: ``authors.2`` is the ``authors`` field."""
        by_field: dict[str, list[dict[str, str]]] = {}
        for error in self.errors:
            name = str(error.get("field", "")).split(".", 1)[0] or "body"
            by_field.setdefault(name, []).append(error)
        return by_field

    @property
    def retry_after(self) -> int | None:
        """Seconds to wait, from Retry-After (delta-seconds form), when the answer has one."""
        value = self.headers.get("Retry-After", "").strip()
        return int(value) if value.isascii() and value.isdigit() else None


def problem_from(response: httpx.Response) -> ApiProblem:
    body: dict[str, Any] = {}
    try:
        decoded = response.json()
        if isinstance(decoded, dict):
            body = decoded
    except ValueError:
        pass
    errors = body.get("errors")
    return ApiProblem(
        status=response.status_code,
        title=str(body.get("title") or response.reason_phrase),
        detail=str(body.get("detail") or ""),
        type=str(body.get("type") or "about:blank"),
        errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else [],
        body=body,
        headers=response.headers,  # case-insensitive, as HTTP headers are
    )


class ApiClient:
    """One service: pooled connections, the request id passed on, errors mapped.

    Requests go straight to an httpx transport (its connection pool), not through an
    ``httpx.Client``: the client's per-request work (merging URLs, headers and cookies, auth and
    redirect hooks) was a good part of a catalog page's cost, and its cookie jar would keep a
    cookie an API set while answering one user's call and send it with the next user's. Here
    each request carries only the headers it is given.

    ``on_write`` is called once any other request than a read has had its answer (or failed:
    it may have changed something all the same)."""

    def __init__(
        self,
        service: str,
        base_url: str,
        timeout: float,
        transport: httpx.BaseTransport | None = None,
        on_write: Callable[[], None] | None = None,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 3.0)).as_dict()
        self.transport = transport or httpx.HTTPTransport()
        self.on_write = on_write

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, IO[bytes], str]] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """The answer when it is a success (2xx, or 304); ApiProblem for any other answer,
        ServiceDown when there is none or the service says it is unavailable."""
        sent = {**BASE_HEADERS, **(headers or {})}
        if has_request_context():
            request_id = g.get("request_id")
            if request_id:
                sent[REQUEST_ID_HEADER] = request_id
            client_address = g.get("client_address")
            if client_address:
                sent["X-Forwarded-For"] = client_address
        if token:
            sent["Authorization"] = f"Bearer {token}"
        for _name, stream, _type in (files or {}).values():
            stream.seek(0)  # a retry (after a refresh) sends the whole file again
        try:
            request = httpx.Request(
                method,
                self.base_url + path,
                params=params,
                headers=sent,
                json=json,
                data=data,
                files=files,
                extensions={
                    "timeout": httpx.Timeout(timeout, connect=3.0).as_dict()
                    if timeout
                    else self.timeout
                },
            )
            response = self.transport.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
        except httpx.TimeoutException:
            raise ServiceDown(self.service, "timeout") from None
        except httpx.TransportError as error:
            raise ServiceDown(self.service, type(error).__name__) from None
        finally:
            if self.on_write is not None and method not in READS:
                self.on_write()
        # 5xx: the service cannot answer now (or failed): not "your request was wrong".
        if response.status_code >= 500:
            raise ServiceDown(self.service, f"HTTP {response.status_code}")
        if response.is_success or response.status_code == 304:
            return response
        raise problem_from(response)

    def close(self) -> None:
        self.transport.close()


def next_and_prev(response: httpx.Response) -> dict[str, str]:
    """The ``cursor`` of the Link header's next and prev pages (the API's own paging)."""
    cursors: dict[str, str] = {}
    for rel in ("next", "prev"):
        url = response.links.get(rel, {}).get("url")
        if url:
            cursor = httpx.URL(url).params.get("cursor")
            if cursor:
                cursors[rel] = cursor
            elif rel == "prev":
                cursors[rel] = ""  # the first page has no cursor
    return cursors


def total_count(response: httpx.Response) -> int | None:
    value = response.headers.get("X-Total-Count", "")
    return int(value) if value.isascii() and value.isdigit() else None
