"""The access log: one line per request, and polls that found nothing new kept out of INFO."""

from __future__ import annotations

import logging

import pytest
from flask import Flask, Response, request

from common.request_log import POLL_HEADER, init_request_log


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    init_request_log(app, "test_service")

    @app.get("/books")
    def books() -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response("[]", mimetype="application/json", headers={"ETag": '"v1"'})

    return app


def access_levels(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [r.levelno for r in caplog.records if r.name == "estante.access"]


POLL = {POLL_HEADER: "catalog-version"}


@pytest.mark.parametrize(
    ("headers", "level"),
    [
        ({}, logging.INFO),
        ({"If-None-Match": '"v1"'}, logging.INFO),  # a 304, but asked by someone
        ({**POLL, "If-None-Match": '"old"'}, logging.INFO),  # a poll that found a change
        ({**POLL, "If-None-Match": '"v1"'}, logging.DEBUG),  # a poll that found nothing new
    ],
)
def test_a_request_is_logged_at_info_unless_it_is_a_poll_that_found_nothing_new(
    app: Flask, caplog: pytest.LogCaptureFixture, headers: dict[str, str], level: int
) -> None:
    caplog.set_level(logging.DEBUG, logger="estante.access")
    app.test_client().get("/books", headers=headers)
    assert access_levels(caplog) == [level]


def test_at_info_a_poll_that_found_nothing_new_leaves_no_line(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="estante.access")
    client = app.test_client()
    client.get("/books", headers={**POLL, "If-None-Match": '"v1"'})
    client.get("/books")
    assert access_levels(caplog) == [logging.INFO]
