"""Bodies held in memory reach the WSGI server as a list (Granian sends those in one call);
streamed bodies and responses with close callbacks are handed on as iterators, as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, Response, jsonify, stream_with_context

from common.app_base import WholeBodyResponse, create_base_app
from common.config import ServiceSettings


@pytest.fixture(scope="module")
def app() -> Flask:
    app = create_base_app(__name__, ServiceSettings(), title="t", version="1")
    closed: list[str] = []
    app.extensions["test.closed"] = closed

    @app.get("/json")
    def as_json() -> Response:
        return jsonify(answer=42)

    @app.get("/plain")
    def plain() -> Response:
        return Response("hello", mimetype="text/plain")  # Flask's class, made ours

    @app.get("/stream")
    def stream() -> Response:
        def chunks() -> Iterator[str]:
            yield "a"
            yield "b"

        return Response(stream_with_context(chunks()), mimetype="text/plain")

    @app.get("/closing")
    def closing() -> Response:
        response = Response("bye")
        response.call_on_close(lambda: closed.append("closed"))
        return response

    return app


def served(app: Flask, path: str, method: str = "GET") -> tuple[str, Any]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
    }
    statuses: list[str] = []
    body = app(environ, lambda status, _headers, _info=None: statuses.append(status))
    return statuses[0], body


@pytest.mark.parametrize(("path", "body"), [("/json", b'{"answer":42}\n'), ("/plain", b"hello")])
def test_a_body_in_memory_is_handed_on_as_a_list(app: Flask, path: str, body: bytes) -> None:
    assert app.response_class is WholeBodyResponse
    status, answer = served(app, path)
    assert status == "200 OK"
    assert isinstance(answer, list)
    assert b"".join(answer) == body


def test_an_error_and_a_head_are_lists_too(app: Flask) -> None:
    status, answer = served(app, "/nowhere")
    assert status.startswith("404") and isinstance(answer, list) and b"".join(answer)
    status, answer = served(app, "/json", "HEAD")
    assert status == "200 OK" and answer == []


def test_a_streamed_body_stays_an_iterator(app: Flask) -> None:
    status, answer = served(app, "/stream")
    assert status == "200 OK"
    assert not isinstance(answer, list)
    assert b"".join(answer) == b"ab"
    answer.close()


def test_close_callbacks_still_run(app: Flask) -> None:
    closed = app.extensions["test.closed"]
    _, answer = served(app, "/closing")
    assert not isinstance(answer, list)
    assert b"".join(answer) == b"bye"
    answer.close()
    assert closed == ["closed"]
