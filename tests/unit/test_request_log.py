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


def test_every_request_is_logged_at_info(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="estante.access")
    client = app.test_client()
    client.get("/books")
    client.get("/books", headers={"If-None-Match": '"v1"'})
    assert access_levels(caplog) == [logging.INFO, logging.INFO]


def test_a_poll_that_found_nothing_new_is_logged_at_debug_only(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="estante.access")
    client = app.test_client()
    client.get("/books", headers={POLL_HEADER: "catalog-version", "If-None-Match": '"v1"'})
    assert access_levels(caplog) == [logging.DEBUG]


def test_a_poll_that_found_a_change_is_logged_at_info(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="estante.access")
    client = app.test_client()
    client.get("/books", headers={POLL_HEADER: "catalog-version", "If-None-Match": '"old"'})
    assert access_levels(caplog) == [logging.INFO]


def test_at_info_a_poll_that_found_nothing_new_leaves_no_line(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="estante.access")
    client = app.test_client()
    client.get("/books", headers={POLL_HEADER: "catalog-version", "If-None-Match": '"v1"'})
    client.get("/books")
    assert access_levels(caplog) == [logging.INFO]
