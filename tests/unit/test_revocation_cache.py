"""The Books Service's cache of the auth service's revocation list: what it refuses, how often
it fetches, and that no answer or failure ever breaks a request."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from books_service.revocations import RETRY_AFTER_FAILURE, RevocationCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def document(users: dict[str, Any] | None = None, sessions: list[Any] | None = None) -> dict:
    return {"issued_at": 100, "grace": 180, "users": users or {}, "sessions": sessions or []}


def claims(sub: str = "7", iat: Any = 500, sid: Any = "s1") -> dict[str, Any]:
    return {"sub": sub, "iat": iat, "sid": sid}


def test_fetched_at_most_once_per_max_age() -> None:
    clock, calls = FakeClock(), []

    def fetch(_url: str, _timeout: float) -> dict:
        calls.append(clock.now)
        return document({"7": 500})

    cache = RevocationCache("x", max_age=5, clock=clock, fetch=fetch)
    for _ in range(20):
        assert cache.is_revoked(claims(iat=1))
    assert len(calls) == 1
    clock.now += 4.9
    cache.is_revoked(claims())
    assert len(calls) == 1
    clock.now += 0.1
    cache.is_revoked(claims())
    assert len(calls) == 2


def test_max_age_zero_fetches_for_every_check() -> None:
    calls = []

    def fetch(_url: str, _timeout: float) -> dict:
        calls.append(1)
        return document()

    cache = RevocationCache("x", max_age=0, clock=FakeClock(), fetch=fetch)
    for _ in range(3):
        cache.is_revoked(claims())
    assert len(calls) == 3


@pytest.mark.parametrize(
    "failure",
    [OSError("refused"), ValueError("not JSON"), RecursionError("deep"), {"users": []}, None],
)
def test_a_failure_keeps_the_last_good_list_and_waits_before_retrying(failure: object) -> None:
    clock, calls = FakeClock(), []

    def fetch(_url: str, _timeout: float) -> object:
        calls.append(clock.now)
        if len(calls) == 1:
            return document({"7": 500})
        if isinstance(failure, Exception):
            raise failure
        return failure

    cache = RevocationCache("x", max_age=0, clock=clock, fetch=fetch)
    assert cache.is_revoked(claims(iat=1))
    assert cache.is_revoked(claims(iat=1))  # the fetch failed: the last good list holds
    assert cache.is_revoked(claims(iat=1))  # and the next one waits
    assert len(calls) == 2
    clock.now += RETRY_AFTER_FAILURE
    assert cache.is_revoked(claims(iat=1))
    assert len(calls) == 3


def test_without_any_list_nothing_is_refused() -> None:
    def down(_url: str, _timeout: float) -> dict:
        raise OSError("refused")

    assert not RevocationCache("x", clock=FakeClock(), fetch=down).is_revoked(claims())


def test_the_list_survives_a_restart_in_its_file(tmp_path: Path) -> None:
    cache_file = tmp_path / "revocations-cache.json"
    up = {"value": True}

    def fetch(_url: str, _timeout: float) -> dict:
        if not up["value"]:
            raise OSError("refused")
        return document({"7": 500}, ["ended"])

    cache = RevocationCache("x", cache_file=cache_file, clock=FakeClock(), fetch=fetch)
    assert cache.is_revoked(claims(iat=1))
    up["value"] = False
    restarted = RevocationCache("x", cache_file=cache_file, clock=FakeClock(), fetch=fetch)
    assert restarted.is_revoked(claims(iat=1))
    assert restarted.is_revoked(claims(sub="9", sid="ended"))


def test_a_newer_list_another_worker_saved_is_taken_when_the_fetch_fails(tmp_path: Path) -> None:
    cache_file = tmp_path / "revocations-cache.json"
    clock, answers = FakeClock(), [document()]

    def fetch(_url: str, _timeout: float) -> object:
        if not answers:
            raise OSError("refused")
        return answers.pop()

    cache = RevocationCache("x", max_age=1, cache_file=cache_file, clock=clock, fetch=fetch)
    assert not cache.is_revoked(claims(iat=1))
    newer = {**document({"7": 500}), "issued_at": 200}
    cache_file.write_text(json.dumps(newer), encoding="utf-8")  # as another worker would
    clock.now += 1
    assert cache.is_revoked(claims(iat=1))


@pytest.mark.parametrize("content", ["not json", "[]", '{"users": 1}', "[" * 100_000])
def test_a_bad_file_is_ignored(tmp_path: Path, content: str) -> None:
    cache_file = tmp_path / "revocations-cache.json"
    cache_file.write_text(content, encoding="utf-8")

    def down(_url: str, _timeout: float) -> dict:
        raise OSError("refused")

    cache = RevocationCache("x", cache_file=cache_file, clock=FakeClock(), fetch=down)
    assert not cache.is_revoked(claims())


def test_one_request_fetches_while_the_others_go_on() -> None:
    started, release, calls = threading.Event(), threading.Event(), []

    def slow_fetch(_url: str, _timeout: float) -> dict:
        calls.append(1)
        started.set()
        release.wait(5)
        return document({"7": 500})

    cache = RevocationCache("x", max_age=0, clock=FakeClock(), fetch=slow_fetch)
    fetching = threading.Thread(target=cache.is_revoked, args=(claims(),))
    fetching.start()
    assert started.wait(5)
    assert not cache.is_revoked(claims(iat=1))  # not blocked: answers with the list it has
    release.set()
    fetching.join(5)
    assert len(calls) == 1
    assert cache.is_revoked(claims(iat=1))
