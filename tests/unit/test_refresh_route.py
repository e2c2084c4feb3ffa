"""``POST /token/refresh`` served in front of Flask (``auth_service.refresh_route``): every
refresh, good or bad, gets the answer Flask's own path gives, with the same log line and
metrics, and a rotation that fails is never tried twice. The app is asked both ways: through
its WSGI app (the route first) and through Flask alone (what the route hands on)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import Client, TestResponse

from auth_service.config import AuthSettings
from auth_service.refresh_route import REFRESH_PATH, RefreshRoute
from common.request_log import STARTED_KEY
from tests.support.metrics import requests_counted

PASSWORD = "correct horse battery staple"
JSON = "application/json"
LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def served_app(data_dir: Path, **settings: Any) -> Iterator[Flask]:
    """The Auth app as served, prepared in ``data_dir``, noting each path Flask's own hooks
    see (``test.flask_saw``: the requests the route handed on)."""
    from auth_service.app import create_app, prepare

    config = AuthSettings(
        data_dir=data_dir, argon2_memory_kib=8192, refresh_reuse_grace=0, **settings
    )
    prepare(config)
    app = create_app(config)
    seen: list[str] = []
    app.before_request(lambda: seen.append(request.path))  # Flask's path only
    app.extensions["test.flask_saw"] = seen
    yield app
    app.extensions["estante.db"].dispose()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    yield from served_app(tmp_path_factory.mktemp("refresh-route"), rate_limits_enabled=False)


@pytest.fixture
def both(app: Flask) -> tuple[FlaskClient, Client]:
    """The app as served (the route first) and Flask alone."""
    route = app.wsgi_app
    assert isinstance(route, RefreshRoute)
    return app.test_client(), Client(route.next_app, app.response_class)


def new_session(client: FlaskClient, name: str) -> str:
    answer = client.post("/register", json={"username": name, "password": PASSWORD})
    assert answer.status_code == 201, answer.get_json()
    token: str = answer.get_json()["refresh_token"]
    return token


def refreshes_counted(status: int) -> float:
    return requests_counted("auth_service", "POST", REFRESH_PATH, status)


def test_a_refresh_is_answered_as_flask_answers_it_without_flask(
    app: Flask, both: tuple[FlaskClient, Client], caplog: pytest.LogCaptureFixture
) -> None:
    served, flask_only = both
    seen = app.extensions["test.flask_saw"]
    tokens = [new_session(served, "routed"), new_session(served, "flasked")]
    caplog.set_level(logging.INFO, logger="estante.access")
    caplog.clear()
    counted = refreshes_counted(200)
    seen.clear()
    fast = served.post(REFRESH_PATH, json={"refresh_token": tokens[0]})
    assert seen == []  # no Flask hook ran
    slow = flask_only.post(REFRESH_PATH, json={"refresh_token": tokens[1]})
    assert seen == [REFRESH_PATH]
    assert fast.status_code == slow.status_code == 200
    assert sorted(fast.headers.keys()) == sorted(slow.headers.keys())
    assert fast.content_type == slow.content_type == JSON
    assert fast.data.endswith(b"\n") and slow.data.endswith(b"\n")
    ours, theirs = fast.get_json(), slow.get_json()
    assert list(ours) == list(theirs)
    assert ours["user"]["username"] == "routed" and theirs["user"]["username"] == "flasked"
    for name in ("token_type", "expires_in"):
        assert ours[name] == theirs[name]
    # The rotated token is the one that works now; the spent one is refused.
    again = served.post(REFRESH_PATH, json={"refresh_token": ours["refresh_token"]})
    assert again.status_code == 200
    assert refreshes_counted(200) == counted + 3
    lines = [r.fields for r in caplog.records if r.name == "estante.access"]  # type: ignore[attr-defined]
    assert [(line["path"], line["status"]) for line in lines] == [(REFRESH_PATH, 200)] * 3
    assert lines[0]["user_id"] == ours["user"]["id"]
    assert lines[0]["request_id"] == fast.headers["X-Request-ID"]
    assert lines[0]["service"] == "auth_service" and lines[0]["method"] == "POST"
    assert isinstance(lines[0]["duration_ms"], float)


def test_the_request_id_is_the_callers_when_sane(both: tuple[FlaskClient, Client]) -> None:
    served, _ = both
    token = new_session(served, "identified")
    given = served.post(
        REFRESH_PATH, json={"refresh_token": token}, headers={"X-Request-ID": "trace-42"}
    )
    assert given.headers["X-Request-ID"] == "trace-42"
    bad = served.post(
        REFRESH_PATH,
        json={"refresh_token": given.get_json()["refresh_token"]},
        headers={"X-Request-ID": "no spaces allowed"},
    )
    assert bad.status_code == 200
    assert len(bad.headers["X-Request-ID"]) == 32


def test_a_reused_token_revokes_its_session_once_and_flask_answers(
    app: Flask, both: tuple[FlaskClient, Client], caplog: pytest.LogCaptureFixture
) -> None:
    served, _ = both
    first = new_session(served, "reused")
    second = served.post(REFRESH_PATH, json={"refresh_token": first}).get_json()["refresh_token"]
    caplog.set_level(logging.INFO, logger="estante.access")
    caplog.clear()
    counted = refreshes_counted(401)
    reuse = served.post(REFRESH_PATH, json={"refresh_token": first})
    assert reuse.status_code == 401
    assert reuse.content_type == "application/problem+json"
    assert (
        reuse.get_json()["detail"] == "The refresh token was already used; the session is revoked."
    )
    assert "X-Request-ID" in reuse.headers
    assert refreshes_counted(401) == counted + 1  # once: Flask's hooks, not the route's too
    lines = [r.fields for r in caplog.records if r.name == "estante.access"]  # type: ignore[attr-defined]
    assert [(line["path"], line["status"]) for line in lines] == [(REFRESH_PATH, 401)]
    # The revocation was committed: the successor dies with its session.
    assert served.post(REFRESH_PATH, json={"refresh_token": second}).status_code == 401


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"refresh_token": "no-such-token"}', JSON),
        ('{"refresh_token": "no-such-token"}', "application/json; charset=utf-8"),
        ("{}", JSON),
        ('{"refresh_token": 5}', JSON),
        ('{"refresh_token": "a", "extra": 1}', JSON),
        ('{"refresh_token": "' + "x" * 5000 + '"}', JSON),
        ("[]", JSON),
        ("not json", JSON),
        ('{"refresh_token": "a"', JSON),
        ("", JSON),
        ('{"refresh_token": "a"}', "text/plain"),
        ('{"refresh_token": "a"}', "application/problem+json"),
        ('{"refresh_token": "' + "x" * 1_100_000 + '"}', JSON),
    ],
)
def test_a_refused_refresh_gets_flasks_answer(
    both: tuple[FlaskClient, Client], data: str, content_type: str
) -> None:
    served, flask_only = both
    ours = served.post(REFRESH_PATH, data=data, content_type=content_type)
    theirs = flask_only.post(REFRESH_PATH, data=data, content_type=content_type)
    assert ours.status_code == theirs.status_code
    assert ours.status_code in {400, 401, 413, 415, 422}
    assert ours.content_type == theirs.content_type
    assert ours.get_json() == theirs.get_json()
    assert sorted(ours.headers.keys()) == sorted(theirs.headers.keys())


def test_other_requests_go_to_flask(both: tuple[FlaskClient, Client]) -> None:
    served, _ = both
    assert served.get(REFRESH_PATH).status_code == 405
    assert served.post(REFRESH_PATH + "/", json={"refresh_token": "a"}).status_code == 404
    assert served.post("/token/refres", json={"refresh_token": "a"}).status_code == 404


def test_a_request_handed_on_is_timed_from_the_routes_start(
    both: tuple[FlaskClient, Client], caplog: pytest.LogCaptureFixture
) -> None:
    """A failed rotation's time is the request's too: Flask's hooks start from the route's
    clock (``STARTED_KEY``), not from their own."""
    _, flask_only = both
    caplog.set_level(logging.INFO, logger="estante.access")
    caplog.clear()
    began = time.perf_counter() - 60
    flask_only.post(
        REFRESH_PATH, json={"refresh_token": "no-such-token"}, environ_base={STARTED_KEY: began}
    )
    lines = [r.fields for r in caplog.records if r.name == "estante.access"]  # type: ignore[attr-defined]
    assert lines[0]["duration_ms"] >= 60_000


# With the limits on: the route counts each refresh in flask-limiter's bucket (the client's
# address as Flask sees it, behind a trusted proxy here), with flask-limiter's headers, once.


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    yield from served_app(
        tmp_path_factory.mktemp("refresh-route-limited"),
        rate_limits_enabled=True,
        rate_limit_refresh="3 per minute",
        rate_limit_register="100 per minute",
        trusted_proxies=1,
    )


def flask_alone(app: Flask) -> Client:
    """Flask without the route (nor the proxy fix: give it REMOTE_ADDR)."""
    proxied = app.wsgi_app
    assert isinstance(proxied, ProxyFix) and isinstance(proxied.app, RefreshRoute)
    return Client(proxied.app.next_app, app.response_class)


def from_address(client: FlaskClient | Client, address: str, token: str) -> TestResponse:
    """A refresh from ``address``: forwarded by the proxy to the app as served, the peer's
    address to Flask alone."""
    if isinstance(client, FlaskClient):
        return client.post(
            REFRESH_PATH, json={"refresh_token": token}, headers={"X-Forwarded-For": address}
        )
    return client.post(
        REFRESH_PATH, json={"refresh_token": token}, environ_base={"REMOTE_ADDR": address}
    )


def limited_session(app: Flask, name: str) -> str:
    answer = app.test_client().post(
        "/register",
        json={"username": name, "password": PASSWORD},
        headers={"X-Forwarded-For": f"10.9.0.{len(name)}"},
    )
    assert answer.status_code == 201, answer.get_json()
    token: str = answer.get_json()["refresh_token"]
    return token


def test_limited_refreshes_are_served_and_counted_by_the_route(limited: Flask) -> None:
    served = limited.test_client()
    seen = limited.extensions["test.flask_saw"]
    token = limited_session(limited, "counted")
    seen.clear()
    remaining = []
    for _ in range(3):
        answer = from_address(served, "10.1.0.1", token)
        assert answer.status_code == 200
        assert answer.headers["X-RateLimit-Limit"] == "3"
        assert "Retry-After" not in answer.headers  # only a 429 tells a client to wait
        remaining.append(answer.headers["X-RateLimit-Remaining"])
        token = answer.get_json()["refresh_token"]
    assert remaining == ["2", "1", "0"]
    assert seen == []  # served by the route, not by Flask
    refused = from_address(served, "10.1.0.1", token)
    assert refused.status_code == 429  # flask-limiter's answer, as before
    assert refused.content_type == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    # Each address has its own bucket: the forwarded one, not the proxy's.
    assert from_address(served, "10.1.0.2", token).status_code == 200


def test_the_route_and_flask_count_in_the_same_bucket(limited: Flask) -> None:
    served, alone = limited.test_client(), flask_alone(limited)
    token = limited_session(limited, "shared")
    answers = []
    for client in (served, alone, served):
        answers.append(from_address(client, "10.2.0.1", token))
        token = answers[-1].get_json()["refresh_token"]
    assert [a.status_code for a in answers] == [200] * 3
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert from_address(alone, "10.2.0.1", token).status_code == 429


@pytest.mark.parametrize("good", [True, False])
def test_limited_answers_carry_flasks_headers(limited: Flask, good: bool) -> None:
    served, alone = limited.test_client(), flask_alone(limited)
    tokens = (
        [limited_session(limited, f"headers{i}") for i in range(2)]
        if good
        else ["no-such-token"] * 2
    )
    seen = limited.extensions["test.flask_saw"]
    seen.clear()
    ours = from_address(served, f"10.3.{good:d}.1", tokens[0])
    assert seen == ([] if good else [REFRESH_PATH])
    theirs = from_address(alone, f"10.3.{good:d}.2", tokens[1])
    assert ours.status_code == theirs.status_code == (200 if good else 401)
    assert sorted(ours.headers.keys()) == sorted(theirs.headers.keys())
    assert [ours.headers[name] for name in LIMIT_HEADERS[:2]] == ["3", "2"]
    assert [theirs.headers[name] for name in LIMIT_HEADERS[:2]] == ["3", "2"]
    # Both windows start at their first hit, a minute long (a second apart at most).
    assert abs(int(ours.headers[LIMIT_HEADERS[2]]) - int(theirs.headers[LIMIT_HEADERS[2]])) <= 1
    assert 58 <= int(ours.headers[LIMIT_HEADERS[2]]) - time.time() <= 62


def test_a_failed_rotation_is_counted_once(limited: Flask) -> None:
    """The route counts it and hands it to Flask, whose limiter leaves it alone."""
    served = limited.test_client()
    answers = [from_address(served, "10.4.0.1", "no-such-token") for _ in range(4)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers.getlist("X-RateLimit-Limit") == ["3"] for a in answers)
    assert "Retry-After" not in answers[0].headers


def test_with_the_storage_failing_flask_limits_the_refresh(
    limited: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> bool:
        raise RuntimeError("storage down")

    strategy = limited.extensions["estante.limiter"].limiter
    seen = limited.extensions["test.flask_saw"]
    token = limited_session(limited, "unstored")
    monkeypatch.setattr(strategy, "hit", broken)
    seen.clear()
    answer = from_address(limited.test_client(), "10.5.0.1", token)
    # Flask's path: flask-limiter swallows the error (as configured) and the refresh is served.
    assert seen == [REFRESH_PATH]
    assert answer.status_code == 200


def test_on_the_in_memory_fallback_the_route_counts_nothing() -> None:
    """With the storage down (Redis), flask-limiter counts per process and watches for the
    storage's return: the route leaves such refreshes to it."""
    from types import SimpleNamespace

    from auth_service.rate_limits import REFRESH_ENDPOINT, ViewLimits

    fallback = SimpleNamespace(storage=object(), hit=None)  # hit: never called
    limiter = SimpleNamespace(enabled=True, storage=object(), limiter=fallback)
    limits = ViewLimits(limiter, "3 per minute", REFRESH_ENDPOINT, "prefix")  # type: ignore[arg-type]
    assert limits.hit("10.6.0.1") is None
