"""Brute-force and abuse defence over real HTTP, across two worker processes."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests
from requests.structures import CaseInsensitiveDict

from tests.support.harness import STRONG_PASSWORD, Stack, query_auth_database, start_stack

REDIS_URL = os.environ.get("ESTANTE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("ESTANTE_REQUIRE_REDIS") == "1"


def login_from(
    stack: Stack, source: str, username: str, password: str
) -> tuple[int, CaseInsensitiveDict[str], dict]:
    """Log in from a chosen loopback address (all of 127.0.0.0/8 reaches the service)."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", stack.auth.port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request(
            "POST",
            "/login",
            body=json.dumps({"username": username, "password": password}),
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        headers = CaseInsensitiveDict(dict(response.getheaders()))
        return response.status, headers, json.loads(response.read() or b"{}")
    finally:
        connection.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def throttled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_stack(
        request,
        tmp_path_factory.mktemp(f"throttle-{request.param}"),
        {"LOGIN_THROTTLE_FREE_ATTEMPTS": "3", "LOGIN_THROTTLE_MAX_DELAY_SECONDS": "600"},
    )
    yield running
    running.stop()


def test_failed_logins_are_throttled_per_user_and_address(throttled: Stack) -> None:
    victim = throttled.register()["user"]["username"]
    attacker = "127.0.0.7"
    statuses = [login_from(throttled, attacker, victim, f"guess {i}")[0] for i in range(3)]
    assert statuses == [401, 401, 401]
    # Blocked now, on every worker: even the right password is turned away from this address.
    for _ in range(6):
        status, headers, body = login_from(throttled, attacker, victim, STRONG_PASSWORD)
        assert status == 429
        assert int(headers["Retry-After"]) >= 1
        assert body["status"] == 429 and "try again" in body["detail"]
    # The stranger did not lock the victim out: from the victim's own address it just works.
    status, _, _ = login_from(throttled, "127.0.0.8", victim, STRONG_PASSWORD)
    assert status == 200


def test_one_address_guessing_many_names_is_throttled(throttled: Stack) -> None:
    source = "127.0.0.9"
    names = [f"nobody_{uuid.uuid4().hex[:8]}" for _ in range(13)]
    statuses = [login_from(throttled, source, name, "wrong password")[0] for name in names]
    # 3 free attempts per (name, address), 4 x 3 = 12 per address: the 13th is blocked.
    assert statuses[:12] == [401] * 12
    assert statuses[12] == 429
    # Another address is unaffected.
    assert login_from(throttled, "127.0.0.10", names[0], "wrong password")[0] == 401


def test_many_addresses_guessing_one_name_are_throttled(throttled: Stack) -> None:
    victim = throttled.register()["user"]["username"]  # registered from 127.0.0.1
    # Three guesses from each address: 3 is the pair's allowance, the name's is 3 x 3 = 9.
    statuses = [
        login_from(throttled, f"127.0.1.{i // 3 + 1}", victim, f"guess {i}")[0] for i in range(10)
    ]
    assert statuses == [401] * 9 + [429]
    # The victim, from the address they registered from, is not held up by the guessers.
    assert login_from(throttled, "127.0.0.1", victim, STRONG_PASSWORD)[0] == 200


def test_parallel_guesses_get_only_the_free_attempts(throttled: Stack) -> None:
    victim = throttled.register()["user"]["username"]
    with ThreadPoolExecutor(16) as pool:
        statuses = list(
            pool.map(
                lambda i: login_from(throttled, "127.0.2.1", victim, f"guess {i}")[0], range(16)
            )
        )
    # Every guess is counted before its password is checked, across both workers: exactly
    # the three free ones are checked, the other thirteen are turned away.
    assert sorted(statuses) == [401] * 3 + [429] * 13


def test_password_change_guesses_are_throttled(throttled: Stack) -> None:
    tokens = throttled.register()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    responses = [
        requests.post(
            f"{throttled.auth_url}/me/password",
            json={"current_password": f"guess {i}", "new_password": "a brand new secret"},
            headers=headers,
            timeout=10,
        )
        for i in range(4)
    ]
    assert [r.status_code for r in responses] == [401, 401, 401, 429]
    blocked = responses[-1]
    assert blocked.headers["Content-Type"] == "application/problem+json"
    assert blocked.json()["type"] == "/problems/too-many-login-attempts"
    assert int(blocked.headers["Retry-After"]) >= 1
    assert all("Retry-After" not in r.headers for r in responses[:3])


def test_throttle_records_name_no_user_and_no_address(throttled: Stack) -> None:
    name = f"traceable_{uuid.uuid4().hex[:8]}"
    source = "127.0.3.1"
    throttled.register(name)
    assert [login_from(throttled, source, name, "bad")[0] for _ in range(2)] == [401, 401]
    assert login_from(throttled, source, name, STRONG_PASSWORD)[0] == 200  # a known client now
    keys = [
        row.key
        for table in ("login_throttle", "known_clients")
        for row in query_auth_database(throttled, f"SELECT key FROM {table}")
    ]
    assert {key.split(":")[0] for key in keys} >= {"user", "ip", "known"}
    # Keyed hashes: neither the name nor the address in clear, nor their bare SHA-256.
    bare = {
        hashlib.sha256(value.encode()).hexdigest()
        for value in (name, source, f"{name}\x1f{source}")
    }
    for key in keys:
        assert name not in key and source not in key
        assert key.split(":", 1)[1] not in bare


def test_a_successful_login_clears_the_pair(throttled: Stack) -> None:
    user = throttled.register()["user"]["username"]
    source = "127.0.0.11"
    assert [login_from(throttled, source, user, "bad")[0] for _ in range(2)] == [401, 401]
    assert login_from(throttled, source, user, STRONG_PASSWORD)[0] == 200
    assert [login_from(throttled, source, user, "bad")[0] for _ in range(2)] == [401, 401]


@pytest.fixture(scope="module")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        if REQUIRE_REDIS:
            pytest.fail(
                f"ESTANTE_REQUIRE_REDIS=1 but Redis is not reachable at {REDIS_URL}: {error}"
            )
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {error}")
    return REDIS_URL


@pytest.fixture(scope="module", params=["sqlite"])
def limited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[Stack]:
    running = start_stack(
        request,
        tmp_path_factory.mktemp("limits"),
        {
            "RATE_LIMITS_ENABLED": "1",
            "RATE_LIMIT_REGISTER": "4 per minute",
            "RATE_LIMIT_REFRESH": "5 per minute",
            "REDIS_URL": redis_url,
            # A fresh namespace: counters of earlier runs in the shared Redis do not count.
            "RATE_LIMIT_KEY_PREFIX": f"estante-test-{uuid.uuid4().hex[:8]}",
        },
    )
    yield running
    running.stop()


def test_registration_is_rate_limited_across_workers(limited: Stack) -> None:
    statuses = []
    for _ in range(6):
        response = requests.post(
            f"{limited.auth_url}/register",
            json={"username": f"u{uuid.uuid4().hex[:10]}", "password": STRONG_PASSWORD},
            timeout=10,
        )
        statuses.append(response.status_code)
    # Two workers, one shared Redis counter: exactly four get through.
    assert statuses == [201] * 4 + [429] * 2
    assert response.headers["Content-Type"] == "application/problem+json"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_refresh_is_rate_limited(limited: Stack) -> None:
    statuses = [
        requests.post(
            f"{limited.auth_url}/token/refresh", json={"refresh_token": "nope"}, timeout=10
        ).status_code
        for _ in range(7)
    ]
    assert statuses == [401] * 5 + [429] * 2


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def limited_in_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_stack(
        request,
        tmp_path_factory.mktemp(f"db-limits-{request.param}"),
        {
            "RATE_LIMITS_ENABLED": "1",
            "REDIS_URL": "",  # no Redis: the counters live in the auth database
            "RATE_LIMIT_REGISTER": "4 per minute",
            "RATE_LIMIT_REFRESH": "5 per minute",
            "RATE_LIMIT_LOGIN": "100 per minute",
            "LOGIN_THROTTLE_FREE_ATTEMPTS": "2",
        },
    )
    yield running
    running.stop()


def test_request_limits_hold_across_workers_without_redis(limited_in_database: Stack) -> None:
    responses = [
        requests.post(
            f"{limited_in_database.auth_url}/register",
            json={"username": f"u{uuid.uuid4().hex[:10]}", "password": STRONG_PASSWORD},
            timeout=10,
        )
        for _ in range(6)
    ]
    # Each request on a new connection, spread over both workers: one count in the database.
    assert [r.status_code for r in responses] == [201] * 4 + [429] * 2
    limited = responses[-1]
    assert limited.headers["Content-Type"] == "application/problem+json"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    for created in responses[:4]:
        assert "Retry-After" not in created.headers  # only a 429 tells a client to wait
        assert created.headers["X-RateLimit-Limit"] == "4"
    assert [r.headers["X-RateLimit-Remaining"] for r in responses[:4]] == ["3", "2", "1", "0"]
    refreshes = [
        requests.post(
            f"{limited_in_database.auth_url}/token/refresh",
            json={"refresh_token": "nope"},
            timeout=10,
        ).status_code
        for _ in range(7)
    ]
    assert refreshes == [401] * 5 + [429] * 2
    # The counters hold client addresses: stored as keyed hashes only.
    rows = query_auth_database(limited_in_database, "SELECT key FROM rate_limit_counters")
    assert rows and all("127.0.0.1" not in row.key for row in rows)


def test_retry_after_comes_only_with_a_429(limited_in_database: Stack) -> None:
    user = f"nobody_{uuid.uuid4().hex[:8]}"  # the registrations were used up above
    source = "127.0.4.1"
    invalid = requests.post(f"{limited_in_database.auth_url}/login", json={}, timeout=10)
    assert invalid.status_code == 422 and "Retry-After" not in invalid.headers
    for _ in range(2):
        status, headers, _ = login_from(limited_in_database, source, user, "wrong")
        assert status == 401 and "Retry-After" not in headers
    # The login throttle's own wait (1 s here) stands, not the limiter's window (a minute).
    status, headers, _ = login_from(limited_in_database, source, user, "wrong")
    assert status == 429
    assert headers["Retry-After"] == "1"
