"""Bad input gets a clear 4xx problem+json and changes nothing; never a 500."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.support.harness import Stack

JSON = {"Content-Type": "application/json"}

# (description, raw body, content type, expected status)
BAD_BOOK_BODIES: list[tuple[str, bytes, str, int]] = [
    ("not JSON content type", b'{"title": "a", "author": "b"}', "text/plain", 415),
    ("form encoded", b"title=a&author=b", "application/x-www-form-urlencoded", 415),
    ("no content type", b'{"title": "a", "author": "b"}', "", 415),
    ("malformed JSON", b'{"title": "a", "author": ', "application/json", 400),
    ("invalid UTF-8", b'{"title": "\xff\xfe", "author": "b"}', "application/json", 400),
    ("empty body", b"", "application/json", 400),
    ("JSON array", b'[{"title": "a", "author": "b"}]', "application/json", 422),
    ("JSON string", b'"{\\"title\\": \\"a\\", \\"author\\": \\"b\\"}"', "application/json", 422),
    ("JSON null", b"null", "application/json", 422),
    ("empty object", b"{}", "application/json", 422),
    ("missing author", b'{"title": "a"}', "application/json", 422),
    ("number title", b'{"title": 5, "author": "b"}', "application/json", 422),
    ("null author", b'{"title": "a", "author": null}', "application/json", 422),
    ("list author", b'{"title": "a", "author": ["b"]}', "application/json", 422),
    ("blank title", b'{"title": "   ", "author": "b"}', "application/json", 422),
    ("title too long", b'{"title": "' + b"x" * 501 + b'", "author": "b"}', "application/json", 422),
    (
        "author too long",
        b'{"title": "a", "author": "' + b"y" * 301 + b'"}',
        "application/json",
        422,
    ),
    ("NUL in title", b'{"title": "a\\u0000b", "author": "b"}', "application/json", 422),
    ("lone surrogate", b'{"title": "\\ud800", "author": "b"}', "application/json", 422),
    ("control character", b'{"title": "a\\u0007", "author": "b"}', "application/json", 422),
    ("newline in author", b'{"title": "a", "author": "b\\nc"}', "application/json", 422),
    (
        "deeply nested",
        b'{"title": ' + b"[" * 5000 + b"]" * 5000 + b', "author": "b"}',
        "application/json",
        400,
    ),
]


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert "Traceback" not in response.text
    return body


@pytest.fixture(scope="module")
def token(stack: Stack) -> str:
    return stack.token()


@pytest.mark.parametrize(
    ("case", "body", "content_type", "status"), BAD_BOOK_BODIES, ids=[c[0] for c in BAD_BOOK_BODIES]
)
def test_bad_book_bodies(
    stack: Stack, token: str, case: str, body: bytes, content_type: str, status: int
) -> None:
    target = stack.add_book(token, title=f"untouched by {case}")
    before = stack.list_books()
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    for method, url in (("POST", "/books"), ("PUT", f"/books/{target['id']}")):
        response = requests.request(
            method, stack.books_url + url, data=body, headers=headers, timeout=10
        )
        problem = assert_problem(response, status)
        if status == 422:
            assert problem["errors"], problem
            assert all({"field", "message"} <= set(e) for e in problem["errors"])
    assert stack.list_books() == before


def test_validation_lists_every_invalid_field(stack: Stack, token: str) -> None:
    response = requests.post(
        f"{stack.books_url}/books",
        json={"title": "", "author": 7},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    problem = assert_problem(response, 422)
    assert {e["field"] for e in problem["errors"]} == {"title", "author"}


def test_values_are_trimmed_and_odd_unicode_is_kept(stack: Stack, token: str) -> None:
    title = "  O Pequeno Príncipe — 星の王子さま 📚 e\u0301  "
    book = stack.add_book(token, title=title, author="Antoine de Saint-Exupéry")
    assert book["title"] == "O Pequeno Príncipe — 星の王子さま 📚 é"  # trimmed, NFC
    fetched = requests.get(f"{stack.books_url}/books/{book['id']}", timeout=10).json()
    assert fetched["title"] == book["title"]
    assert fetched["author"] == "Antoine de Saint-Exupéry"


def test_boundary_lengths_are_accepted(stack: Stack, token: str) -> None:
    book = stack.add_book(token, title="t" * 500, author="a" * 300)
    assert len(book["title"]) == 500
    assert len(book["author"]) == 300


def test_read_only_fields_are_refused_not_ignored(stack: Stack, token: str) -> None:
    before = stack.list_books()
    response = requests.post(
        f"{stack.books_url}/books",
        json={"title": "a", "author": "b", "id": 999999, "created_by": "someone-else"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"id", "created_by"}
    assert stack.list_books() == before


@pytest.mark.parametrize("size_header", [True, False], ids=["content-length", "chunked"])
def test_bodies_over_the_limit_get_413(stack: Stack, token: str, size_header: bool) -> None:
    before = stack.list_books()
    payload = b'{"title": "' + b"x" * (2 * 1024 * 1024) + b'", "author": "b"}'
    headers = {"Authorization": f"Bearer {token}", **JSON}
    data: Any = (
        payload
        if size_header
        else iter([payload[i : i + 65536] for i in range(0, len(payload), 65536)])
    )
    response = requests.post(f"{stack.books_url}/books", data=data, headers=headers, timeout=30)
    assert_problem(response, 413)
    big_register = requests.post(
        f"{stack.auth_url}/register", data=payload, headers=JSON, timeout=30
    )
    assert_problem(big_register, 413)
    assert stack.list_books() == before


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nope", 404),
        ("GET", "/books/abc", 404),
        ("GET", "/books/-1", 404),
        ("GET", "/books/0", 404),
        ("GET", "/books/99999999999999999999999999", 404),
        ("GET", "/books/9223372036854775808", 404),
        ("PATCH", "/books", 405),
        ("DELETE", "/books", 405),
        ("POST", "/books/1", 405),
    ],
)
def test_routing_errors_are_problems(stack: Stack, method: str, path: str, status: int) -> None:
    response = requests.request(method, stack.books_url + path, timeout=10)
    assert_problem(response, status)
    if status == 405:
        assert "Allow" in response.headers


def test_huge_ids_on_writes_are_404(stack: Stack, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for huge in ("2147483648", "9223372036854775808", "1" * 40):
        put = requests.put(
            f"{stack.books_url}/books/{huge}",
            json={"title": "a", "author": "b"},
            headers=headers,
            timeout=10,
        )
        assert_problem(put, 404)
        delete = requests.delete(f"{stack.books_url}/books/{huge}", headers=headers, timeout=10)
        assert_problem(delete, 404)


BAD_ACCOUNT_BODIES: list[tuple[str, Any, int]] = [
    ("missing password", {"username": "someone"}, 422),
    ("missing username", {"password": "correct horse battery"}, 422),
    ("number username", {"username": 12345, "password": "correct horse battery"}, 422),
    ("short username", {"username": "ab", "password": "correct horse battery"}, 422),
    ("long username", {"username": "a" * 65, "password": "correct horse battery"}, 422),
    ("username with space", {"username": "ana maria", "password": "correct horse battery"}, 422),
    ("username with @", {"username": "ana@x", "password": "correct horse battery"}, 422),
    ("username with NUL", {"username": "ana\u0000x", "password": "correct horse battery"}, 422),
    ("short password", {"username": "someone", "password": "short"}, 422),
    ("common password", {"username": "someone", "password": "password123"}, 422),
    ("blank password", {"username": "someone", "password": " " * 12}, 422),
    ("huge password", {"username": "someone", "password": "x" * 1025}, 422),
    ("password with NUL", {"username": "someone", "password": "abc\u0000defghij"}, 422),
    ("array body", [], 422),
]


@pytest.mark.parametrize(
    ("case", "body", "status"), BAD_ACCOUNT_BODIES, ids=[c[0] for c in BAD_ACCOUNT_BODIES]
)
@pytest.mark.parametrize("path", ["/register", "/auth/register"])
def test_bad_registrations(stack: Stack, case: str, body: Any, status: int, path: str) -> None:
    if isinstance(body, dict) and body.get("username") == "someone":
        body = {**body, "username": f"someone_{abs(hash((case, path))) % 10**8}"}
    response = requests.post(stack.auth_url + path, json=body, timeout=10)
    problem = assert_problem(response, status)
    assert problem["errors"]
    if isinstance(body, dict) and isinstance(body.get("password"), str):
        assert body["password"] not in response.text or len(body["password"]) < 3
    # Nothing was created: the same name can still log in only if registered properly.
    if isinstance(body, dict) and isinstance(body.get("username"), str):
        login = requests.post(f"{stack.auth_url}/login", json=body, timeout=10)
        assert login.status_code in (401, 422)


@pytest.mark.parametrize(
    "body",
    [
        {"username": "someone", "password": "\ud800wrong-but-long"},
        {"username": "\u0000", "password": "whatever-long"},
        {"username": "x" * 10_000, "password": "whatever-long"},
        {"username": "someone", "password": 12345678},
    ],
    ids=["surrogate password", "NUL username", "huge username", "number password"],
)
def test_odd_logins_never_fail_with_500(stack: Stack, body: dict[str, Any]) -> None:
    response = requests.post(f"{stack.auth_url}/login", json=body, timeout=10)
    assert response.status_code in (401, 422), response.text
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    "query",
    ["limit=&limit=junk", "limit=5&limit=7", "limit=5&cursor=&limit=5"],
    ids=["empty then junk", "two numbers", "the same twice"],
)
def test_a_query_parameter_given_twice_is_refused_on_every_list(
    stack: Stack, token: str, query: str
) -> None:
    """A second value is never dropped silently, on the public list, an administrator's list
    or a librarian's (the token is only a librarian's: the refusal comes first)."""
    headers = {"Authorization": f"Bearer {token}"}
    for url in (
        f"{stack.books_url}/books?{query}",
        f"{stack.books_url}/books/deleted?{query}",
        f"{stack.books_url}/imports?{query}",
        f"{stack.auth_url}/admin/users?{query}",
    ):
        body = assert_problem(requests.get(url, headers=headers, timeout=10), 422)
        assert body["errors"] == [
            {
                "field": "limit",
                "message": "is given more than once: give it once",
                "type": "repeated_parameter",
            }
        ], url
