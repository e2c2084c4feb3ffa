"""``POST /token/refresh`` checks its body itself (``body_checked_here``) rather than through
flask-openapi3's per-request validation: every body, good or bad, gets the very answer
flask-openapi3's validation gives. Two copies of the route, one validated each way, are sent
the same things."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Response, jsonify

from auth_service.config import AuthSettings
from auth_service.routes import body_checked_here
from auth_service.schemas import RefreshRequest
from common.app_base import create_base_app
from common.json_body import require_json_body


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = AuthSettings(data_dir=tmp_path_factory.mktemp("refresh-body"))
    app = create_base_app(__name__, settings, title="t", version="1")
    app.before_request(require_json_body)

    def standard(body: RefreshRequest) -> Response:
        return jsonify(body.model_dump())

    def checked(body: RefreshRequest) -> Response:
        return standard(body)

    app.post("/standard/token/refresh")(standard)
    app.post("/checked/token/refresh")(body_checked_here(checked))
    return app.test_client()


JSON = "application/json"


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"refresh_token": "okzHA_s1ADVtLLrR2XQd1o9sxBS72tse4ngVUsbN4Eo"}', JSON),
        ("{}", JSON),
        ('{"refresh_token": ""}', JSON),
        ('{"refresh_token": 5}', JSON),
        ('{"refresh_token": null}', JSON),
        ('{"refresh_token": ["a"]}', JSON),
        ('{"refresh_token": "' + "x" * 5000 + '"}', JSON),
        ('{"refresh_token": "\\ud800"}', JSON),
        ('{"refresh_token": "a", "extra": 1}', JSON),
        ('{"refresh_token": "a", "refresh_token": 7}', JSON),
        ("[]", JSON),
        ('"a string"', JSON),
        ("not json", JSON),
        ('{"refresh_token": "a"', JSON),
        ("", JSON),
        ('{"refresh_token": "a"}', "text/plain"),
        ("refresh_token=a", "application/x-www-form-urlencoded"),
        ('{"refresh_token": "a"}', "application/problem+json"),
    ],
)
def test_a_body_gets_the_answer_flask_openapi3_gives(
    client: Any, data: str, content_type: str
) -> None:
    standard = client.post("/standard/token/refresh", data=data, content_type=content_type)
    checked = client.post("/checked/token/refresh", data=data, content_type=content_type)
    assert checked.status_code == standard.status_code
    assert checked.content_type == standard.content_type
    assert checked.get_json() == standard.get_json()


def test_the_service_checks_the_refresh_body_itself_and_refuses_bad_ones_alike(
    tmp_path: Any,
) -> None:
    from auth_service.app import create_app, prepare

    settings = AuthSettings(data_dir=tmp_path, rate_limits_enabled=False)
    prepare(settings)
    app = create_app(settings)
    client = app.test_client()
    answer = client.post("/token/refresh", json={"refresh_token": 5})
    assert answer.status_code == 422
    assert answer.content_type == "application/problem+json"
    assert answer.get_json()["errors"][0]["field"] == "refresh_token"
    unknown = client.post("/token/refresh", json={"refresh_token": "no-such-token"})
    assert unknown.status_code == 401
    assert unknown.get_json()["type"] == "/problems/invalid-refresh-token"
