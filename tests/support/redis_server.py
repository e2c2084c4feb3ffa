"""The local Redis server, when there is one: tests that need it skip without it, or fail
when ESTANTE_REQUIRE_REDIS=1 (as CI sets it)."""

from __future__ import annotations

import os

import pytest
import redis

REDIS_URL = os.environ.get("ESTANTE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_REDIS = os.environ.get("ESTANTE_REQUIRE_REDIS") == "1"


def require_redis() -> None:
    """Skip the test (fail it under ESTANTE_REQUIRE_REDIS=1) unless Redis answers."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        reason = f"Redis not reachable at {REDIS_URL}: {error}"
        if REQUIRE_REDIS:
            pytest.fail(f"ESTANTE_REQUIRE_REDIS=1 but {reason}")
        pytest.skip(reason)
