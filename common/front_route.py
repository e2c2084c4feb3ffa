"""Routes served in front of Flask: WSGI middleware that answers some requests itself (a refresh,
a cached book) and hands every other one to the app. Flask's request machinery (request context,
routing, every hook, the response object) can cost more than such a request's own work.

An answer made in front of Flask still gets what Flask's hooks give every answer (see
:mod:`common.request_log` and :mod:`common.metrics`): the request id in ``X-Request-ID``, last
among the headers as the hook sets it, the access log line and the metrics under the route's
pattern, timed from the route's start (:data:`~common.request_log.STARTED_KEY`, which a request
handed on to Flask is timed from too), and the body handed to the server as a list, as
:class:`~common.app_base.WholeBodyResponse` does. :class:`FrontAnswers` is that one piece;
:func:`install_in_front` puts a route where it sees what Flask sees."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.middleware.proxy_fix import ProxyFix

from common.metrics import get_request_metrics
from common.request_log import REQUEST_ID_HEADER, log_request

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication


def status_line(status: int) -> str:
    """The status line Werkzeug's responses send: ``304 NOT MODIFIED``."""
    return f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}"


class FrontAnswers:
    """Sends a service's answers made in front of Flask, with Flask's request id, log line and
    metrics."""

    def __init__(self, app: Flask, service: str) -> None:
        self._service = service
        self._metrics = get_request_metrics(app)
        self._lines: dict[int, str] = {}

    def send(
        self,
        start_response: StartResponse,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        method: str,
        path: str,
        route: str,
        request_id: str,
        started: float,
        user_id: object = None,
        level: int = logging.INFO,
    ) -> list[bytes]:
        """Starts the response (``headers`` and the request id) and returns its body;
        ``route`` is the rule's pattern the metrics count it under, ``path`` what the log
        shows."""
        line = self._lines.get(status)
        if line is None:
            line = self._lines[status] = status_line(status)
        headers.append((REQUEST_ID_HEADER, request_id))
        elapsed = time.perf_counter() - started
        self._metrics.record(method, route, status, elapsed)
        log_request(
            self._service,
            method,
            path,
            status,
            round(elapsed * 1000, 2),
            request_id,
            user_id,
            level=level,
        )
        start_response(line, headers)
        return [body]


def install_in_front(app: Flask, route: Callable[[WSGIApplication], WSGIApplication]) -> None:
    """``route(next_app)`` made the app's WSGI app: inside the proxy headers' fix when proxies
    are trusted (so that it sees the client's address and path prefix as Flask does), else in
    front of Flask's own."""
    served = app.wsgi_app
    if isinstance(served, ProxyFix):
        served.app = route(served.app)
    else:
        # Flask's documented way to add WSGI middleware, though mypy sees wsgi_app as a method.
        app.wsgi_app = route(served)  # type: ignore[method-assign, assignment]
