"""Operations: readiness, metrics across workers, a database that goes away and comes back,
request ids across services, graceful shutdown."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.harness import (
    STRONG_PASSWORD,
    Service,
    Stack,
    build_stack,
    free_port,
    requests_total,
)
from tests.support.tcp_proxy import TcpProxy


def test_both_services_are_ready(stack: Stack) -> None:
    for url, extra in ((stack.auth_url, "keys"), (stack.books_url, "jwks")):
        stack.token()  # the books service has fetched the keys by now
        response = requests.get(f"{url}/readyz", timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["checks"] == {"database": "ok", extra: "ok"}


def test_books_is_not_ready_without_the_auth_service_keys(tmp_path: Path) -> None:
    lonely = build_stack(tmp_path, "sqlite")
    lonely.books.start()
    try:
        response = requests.get(f"{lonely.books_url}/readyz", timeout=10)
        assert response.status_code == 503
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.headers["Retry-After"]
        body = response.json()
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["jwks"] != "ok"
        assert requests.get(f"{lonely.books_url}/healthz", timeout=10).status_code == 200
    finally:
        lonely.stop()


def test_metrics_add_up_across_worker_processes(stack: Stack) -> None:
    before = requests_total(
        requests.get(f"{stack.books_url}/metrics", timeout=10).text, "GET", "/books", 200
    )
    session = requests.Session()
    for _ in range(30):
        # A new connection each time, so the requests spread over both workers.
        assert requests.get(f"{stack.books_url}/books", timeout=10).status_code == 200
    session.close()
    scrapes = [requests.get(f"{stack.books_url}/metrics", timeout=10) for _ in range(4)]
    for scrape in scrapes:  # whichever worker answers, it reports the whole service
        assert scrape.headers["Content-Type"].startswith("text/plain")
        assert requests_total(scrape.text, "GET", "/books", 200) - before == 30
    assert "estante_http_request_duration_seconds_bucket" in scrapes[0].text
    missing = requests.get(f"{stack.books_url}/books/999999999", timeout=10)
    assert missing.status_code == 404
    text = requests.get(f"{stack.books_url}/metrics", timeout=10).text
    assert requests_total(text, "GET", "/books/<int:book_id>", 404) >= 1


def stack_with_a_flaky_database(
    request: pytest.FixtureRequest, tmp_path: Path, service: str
) -> Iterator[tuple[Stack, TcpProxy]]:
    """Both services on PostgreSQL, ``service``'s database behind a proxy that can go away."""
    server = request.getfixturevalue("postgres")
    urls = {name: server.create_database(f"flaky_{name}") for name in ("auth", "books")}
    proxy = TcpProxy(("127.0.0.1", 5432), free_port()).start()
    urls[service] = urls[service].replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    stack = build_stack(tmp_path, "postgres", urls)
    stack.auth.start()
    stack.books.start()
    yield stack, proxy
    proxy.stop()
    stack.stop()


@pytest.fixture
def flaky_database(request: pytest.FixtureRequest, tmp_path: Path):
    yield from stack_with_a_flaky_database(request, tmp_path, "books")


@pytest.fixture
def flaky_auth_database(request: pytest.FixtureRequest, tmp_path: Path):
    yield from stack_with_a_flaky_database(request, tmp_path, "auth")


def assert_database_unavailable(response: requests.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    assert response.json()["type"] == "/problems/database-unavailable"
    assert "Traceback" not in response.text


def test_a_database_outage_is_a_503_and_the_service_recovers(flaky_database) -> None:
    stack, proxy = flaky_database
    token = stack.token()
    stack.add_book(token, title="before the outage")
    proxy.stop()
    for _ in range(4):
        assert_database_unavailable(requests.get(f"{stack.books_url}/books", timeout=30))
    write = requests.post(
        f"{stack.books_url}/books",
        json={"title": "during", "author": "x"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert write.status_code == 503
    assert requests.get(f"{stack.books_url}/readyz", timeout=30).status_code == 503
    assert requests.get(f"{stack.books_url}/healthz", timeout=30).status_code == 200
    proxy.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if requests.get(f"{stack.books_url}/books", timeout=30).status_code == 200:
            break
        time.sleep(0.2)
    titles = [b["title"] for b in stack.list_books()]
    assert "before the outage" in titles and "during" not in titles
    stack.add_book(token, title="after the outage")
    assert requests.get(f"{stack.books_url}/readyz", timeout=30).status_code == 200


def test_an_auth_database_outage_is_a_503_and_the_service_recovers(flaky_auth_database) -> None:
    stack, proxy = flaky_auth_database
    registered = stack.register("before_the_outage")
    token = registered["access_token"]
    me = {"Authorization": f"Bearer {token}"}
    credentials = {"username": "before_the_outage", "password": STRONG_PASSWORD}
    proxy.stop()
    for _ in range(3):
        login = requests.post(f"{stack.auth_url}/login", json=credentials, timeout=30)
        assert_database_unavailable(login)
    assert_database_unavailable(
        requests.post(
            f"{stack.auth_url}/register",
            json={"username": "during_the_outage", "password": STRONG_PASSWORD},
            timeout=30,
        )
    )
    assert_database_unavailable(requests.get(f"{stack.auth_url}/me", headers=me, timeout=30))
    assert requests.get(f"{stack.auth_url}/readyz", timeout=30).status_code == 503
    assert requests.get(f"{stack.auth_url}/healthz", timeout=30).status_code == 200
    # The keys are files: the books service can still fetch them and verify tokens.
    jwks = requests.get(f"{stack.auth_url}/.well-known/jwks.json", timeout=30)
    assert jwks.status_code == 200 and jwks.json()["keys"]
    stack.add_book(token, title="written while auth's database was away")

    proxy.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        login = requests.post(f"{stack.auth_url}/login", json=credentials, timeout=30)
        if login.status_code == 200:
            break
        time.sleep(0.2)
    assert login.status_code == 200, login.text
    assert requests.get(f"{stack.auth_url}/me", headers=me, timeout=30).status_code == 200
    # Nothing half-done was left by the refused registration: the name is still free.
    assert stack.register("during_the_outage")["user"]["username"] == "during_the_outage"
    assert requests.get(f"{stack.auth_url}/readyz", timeout=30).status_code == 200


def test_the_request_id_travels_to_the_auth_service(tmp_path: Path) -> None:
    stack = build_stack(tmp_path, "sqlite", extra_env={"ESTANTE_LOG_LEVEL": "INFO"})
    stack.auth.start()
    stack.books.start()
    try:
        token = stack.token()
        response = requests.post(
            f"{stack.books_url}/books",
            json={"title": "traced", "author": "x"},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "trace-4242"},
            timeout=10,
        )
        assert response.status_code == 201
        assert response.headers["X-Request-ID"] == "trace-4242"
        time.sleep(0.3)
        auth_lines = [line for line in stack.auth.log().splitlines() if "trace-4242" in line]
        assert any("/.well-known/jwks.json" in line for line in auth_lines), stack.auth.log()[
            -2000:
        ]
        books_lines = [line for line in stack.books.log().splitlines() if "trace-4242" in line]
        assert any('"status": 201' in line for line in books_lines)
        assert token not in stack.auth.log() + stack.books.log()  # tokens are never logged
        assert STRONG_PASSWORD not in stack.auth.log()
    finally:
        stack.stop()


def access_log_entry(service: Service, method: str, path: str, status: int) -> dict[str, Any]:
    """The JSON log line of one request (waiting a little for the worker to write it)."""
    deadline = time.monotonic() + 10
    while True:
        for line in service.log().splitlines():
            if not line.startswith("{"):
                continue  # Granian's own lines
            entry = json.loads(line)
            if (entry.get("method"), entry.get("path"), entry.get("status")) == (
                method,
                path,
                status,
            ):
                return entry
        assert time.monotonic() < deadline, f"no log line for {method} {path} {status}"
        time.sleep(0.05)


def test_the_access_log_names_the_account_the_same_way_in_both_services(tmp_path: Path) -> None:
    stack = build_stack(tmp_path, "sqlite", extra_env={"ESTANTE_LOG_LEVEL": "INFO"})
    stack.auth.start()
    stack.books.start()
    try:
        registered = stack.register("logged_user")
        user_id = registered["user"]["id"]
        login = requests.post(
            f"{stack.auth_url}/login",
            json={"username": "logged_user", "password": STRONG_PASSWORD},
            timeout=10,
        )
        assert login.status_code == 200
        book = stack.add_book(registered["access_token"], title="logged")
        deleted = requests.delete(
            f"{stack.books_url}/books/{book['id']}",
            headers={"Authorization": f"Bearer {registered['access_token']}"},
            timeout=10,
        )
        assert deleted.status_code == 204
        # The account that was created, and the one that logged in, not null.
        for path, status in (("/register", 201), ("/login", 200)):
            entry = access_log_entry(stack.auth, "POST", path, status)
            assert entry["user_id"] == user_id, entry
        for method, path, status in (
            ("POST", "/books", 201),
            ("DELETE", f"/books/{book['id']}", 204),
        ):
            entry = access_log_entry(stack.books, method, path, status)
            assert entry["user_id"] == user_id, entry  # an integer here too, not "1"
        assert access_log_entry(stack.books, "GET", "/healthz", 200)["user_id"] is None
    finally:
        stack.stop()


def test_a_204_has_no_content_type(stack: Stack) -> None:
    registered = stack.register()
    token = registered["access_token"]
    book = stack.add_book(token, title="to be deleted")
    answers = [
        requests.delete(
            f"{stack.books_url}/books/{book['id']}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ),
        requests.post(
            f"{stack.auth_url}/logout",
            json={"refresh_token": registered["refresh_token"]},
            timeout=10,
        ),
    ]
    for answer in answers:
        assert answer.status_code == 204, answer.text
        assert "Content-Type" not in answer.headers, answer.url
        assert answer.content == b""


def test_sigterm_lets_a_request_in_flight_finish(tmp_path: Path) -> None:
    # An expensive password hash makes a login slow enough to be caught in flight.
    stack = build_stack(
        tmp_path, "sqlite", extra_env={"ARGON2_TIME_COST": "12", "ARGON2_MEMORY_KIB": "131072"}
    )
    stack.auth.start()
    try:
        username = stack.register()["user"]["username"]
        result: dict[str, float] = {}

        def slow_login() -> None:
            began = time.monotonic()
            response = requests.post(
                f"{stack.auth_url}/login",
                timeout=60,
                json={"username": username, "password": STRONG_PASSWORD},
            )
            result["status"] = response.status_code
            result["seconds"] = time.monotonic() - began

        started = time.monotonic()
        worker = threading.Thread(target=slow_login)
        worker.start()
        time.sleep(0.15)
        assert stack.auth.process is not None
        stack.auth.process.send_signal(signal.SIGTERM)
        worker.join(timeout=60)
        assert result.get("status") == 200
        assert stack.auth.process.wait(timeout=30) == 0
        assert result["seconds"] > 0.3  # it really was in flight when the signal came
        assert time.monotonic() - started > 0.15
    finally:
        stack.stop()
