"""The APIs' answers as the pages see them: problem+json as exceptions with field errors, an
unreachable or failing service as ServiceDown, and the paging headers."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.support.harness import free_port
from web_service.api_client import (
    ApiClient,
    ApiProblem,
    ServiceDown,
    next_and_prev,
    problem_from,
    total_count,
)

PROBLEM = {
    "type": "/problems/validation-error",
    "title": "Invalid request",
    "status": 422,
    "detail": "The request has invalid fields",
    "errors": [
        {"field": "isbn", "message": "not a valid ISBN: bad check digit", "type": "isbn"},
        {"field": "authors.1", "message": "String should have at most 300", "type": "x"},
        {"field": "authors.3", "message": "blank", "type": "string_pattern_mismatch"},
    ],
}


def answering(status: int, body: object = None, **headers: str) -> ApiClient:
    """A client whose every request gets this answer (httpx's own in-memory transport)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, dict | list):
            return httpx.Response(status, json=body, headers=headers)
        return httpx.Response(status, content=body or b"", headers=headers)

    return ApiClient("books", "http://books.invalid", 2.0, transport=httpx.MockTransport(handler))


def test_a_problem_is_read_with_its_field_errors_by_form_field() -> None:
    with pytest.raises(ApiProblem) as caught:
        answering(422, PROBLEM).request("POST", "/books", json={})
    problem = caught.value
    assert (problem.status, problem.type, problem.title) == (
        422,
        "/problems/validation-error",
        "Invalid request",
    )
    by_field = problem.field_errors()
    assert set(by_field) == {"isbn", "authors"}
    assert [e["type"] for e in by_field["authors"]] == ["x", "string_pattern_mismatch"]


def test_retry_after_is_read_in_seconds() -> None:
    with pytest.raises(ApiProblem) as caught:
        answering(429, {"title": "Too Many Requests"}, **{"Retry-After": "42"}).request(
            "POST", "/login"
        )
    assert caught.value.retry_after == 42


def test_a_retry_after_date_or_garbage_is_no_number() -> None:
    problem = problem_from(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015"}))
    assert problem.retry_after is None


def test_a_body_that_is_not_json_still_makes_a_problem() -> None:
    problem = problem_from(httpx.Response(404, content=b"<html>nope</html>"))
    assert problem.status == 404
    assert problem.title == "Not Found"
    assert problem.errors == []


def test_malformed_errors_are_ignored_not_crashed_on() -> None:
    problem = problem_from(httpx.Response(422, json={"errors": ["text", 3, {"field": "title"}]}))
    assert problem.errors == [{"field": "title"}]
    assert problem.field_errors() == {"title": [{"field": "title"}]}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_means_the_service_is_down(status: int) -> None:
    with pytest.raises(ServiceDown) as caught:
        answering(status).request("GET", "/books")
    assert caught.value.service == "books"


def test_a_refused_connection_means_the_service_is_down() -> None:
    port = free_port()  # nothing listens there
    client = ApiClient("auth", f"http://127.0.0.1:{port}", 2.0)
    with pytest.raises(ServiceDown) as caught:
        client.request("POST", "/login")
    assert caught.value.service == "auth"


def test_a_service_that_never_answers_times_out_as_down() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the connection, never answers
        client = ApiClient("books", f"http://127.0.0.1:{listener.getsockname()[1]}", 0.3)
        with pytest.raises(ServiceDown) as caught:
            client.request("GET", "/books")
    assert caught.value.reason == "timeout"


def test_a_token_is_sent_as_a_bearer_and_successes_are_returned() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    client = ApiClient("books", "http://books.invalid", 2.0, transport=httpx.MockTransport(handler))
    assert client.request("GET", "/books", token="abc").json() == []
    assert seen[0].headers["Authorization"] == "Bearer abc"


def test_paging_headers_give_the_cursors_and_the_total() -> None:
    response = httpx.Response(
        200,
        headers={
            "Link": '</books?q=a&limit=50>; rel="first", </books?q=a&limit=50>; rel="prev", '
            '</books?q=a&limit=50&cursor=Ab-_9>; rel="next", </books?cursor=Zz>; rel="last"',
            "X-Total-Count": "123",
        },
        request=httpx.Request("GET", "http://books.invalid/books"),
    )
    assert next_and_prev(response) == {"next": "Ab-_9", "prev": ""}
    assert total_count(response) == 123


def test_no_link_header_means_one_page() -> None:
    response = httpx.Response(200, request=httpx.Request("GET", "http://x.invalid/"))
    assert next_and_prev(response) == {}
    assert total_count(response) is None


def test_a_cookie_an_api_sets_is_never_sent_with_a_later_call() -> None:
    """One client serves every user of a worker: a cookie from one user's answer must not go
    out with the next user's call (an httpx.Client's cookie jar would send it)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={}, headers={"Set-Cookie": "session=alices; Path=/"})

    client = ApiClient("auth", "http://auth.invalid", 2.0, transport=httpx.MockTransport(handler))
    client.request("POST", "/login", json={"username": "alice"})
    client.request("GET", "/me", token="bobs-token")
    assert "Cookie" not in seen[1].headers
    assert seen[1].headers["Authorization"] == "Bearer bobs-token"


def test_only_the_given_headers_and_the_clients_own_are_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    client = ApiClient("books", "http://books.invalid", 2.0, transport=httpx.MockTransport(handler))
    client.request("GET", "/books", token="t", headers={"If-None-Match": '"1"'})
    client.request("GET", "/books", params={"q": "mar", "limit": 50})
    first, second = seen
    assert first.headers["If-None-Match"] == '"1"' and first.headers["User-Agent"] == "estante-web"
    assert "If-None-Match" not in second.headers and "Authorization" not in second.headers
    assert str(second.url) == "http://books.invalid/books?q=mar&limit=50"
