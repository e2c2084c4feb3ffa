"""Brute-force and abuse defence over real HTTP, across two worker processes."""

from __future__ import annotations

import http.client
import json
import os
import uuid
from collections.abc import Iterator

import pytest
import redis
import requests
from requests.structures import CaseInsensitiveDict

from tests.integration.conftest import start_stack
from tests.integration.harness import STRONG_PASSWORD, Stack

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
    assert int(response.headers["Retry-After"]) >= 1


def test_refresh_is_rate_limited(limited: Stack) -> None:
    statuses = [
        requests.post(
            f"{limited.auth_url}/token/refresh", json={"refresh_token": "nope"}, timeout=10
        ).status_code
        for _ in range(7)
    ]
    assert statuses == [401] * 5 + [429] * 2
