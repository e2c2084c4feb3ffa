"""``POST /token/refresh`` served in front of Flask (``auth_service.refresh_route``): every
refresh, good or bad, gets the answer Flask's own path gives, with the same log line and
metrics, and a rotation that fails is never tried twice. The app is asked both ways: through
its WSGI app (the route first) and through Flask alone (what the route hands on)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from werkzeug.test import Client

from auth_service.config import AuthSettings
from auth_service.refresh_route import REFRESH_PATH, RefreshRoute
from common.request_log import STARTED_KEY

PASSWORD = "correct horse battery staple"
JSON = "application/json"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from auth_service.app import create_app, prepare

    settings = AuthSettings(
        data_dir=tmp_path_factory.mktemp("refresh-route"),
        argon2_memory_kib=8192,
        rate_limits_enabled=False,
        refresh_reuse_grace=0,
    )
    prepare(settings)
    app = create_app(settings)
    seen: list[str] = []
    app.before_request(lambda: seen.append(request.path))  # Flask's path only
    app.extensions["test.flask_saw"] = seen
    yield app
    app.extensions["estante.db"].dispose()


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
    labels = {
        "service": "auth_service",
        "method": "POST",
        "route": REFRESH_PATH,
        "status": str(status),
    }
    return REGISTRY.get_sample_value("estante_http_requests_total", labels) or 0.0


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


def test_with_limits_on_flask_limits_the_refresh(app: Flask, monkeypatch: Any) -> None:
    seen = app.extensions["test.flask_saw"]
    monkeypatch.setattr(app.extensions["estante.limiter"], "enabled", True)
    seen.clear()
    app.test_client().post(REFRESH_PATH, json={"refresh_token": "no-such-token"})
    assert seen == [REFRESH_PATH]


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
