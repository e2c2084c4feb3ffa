"""Request ids and one JSON log line per request.

The request id comes from ``X-Request-ID`` when the caller sends a sane one, is generated
otherwise, and is returned on the response so a client can quote it in a bug report.

Every request pays for its line, so the line is made cheaply: the record is handed to the
handlers without looking up the caller's frame (the JSON line never shows it), the time is
formatted once a second, one JSON encoder serves every line, and a generated id is 16 random
bytes in hex (what ``uuid4().hex`` looks like, without building a UUID).
"""

from __future__ import annotations

import logging
import os
import re
import time

from flask import Flask, Response, g, request

REQUEST_ID_HEADER = "X-Request-ID"
# Where middleware in front of the app that began the work (``time.perf_counter()``) says when,
# so that a request it hands on is timed from its start, by the log and the metrics alike.
STARTED_KEY = "estante.started"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = logging.getLogger("estante.access")
# A client that polls for a change several times a second (the web service, for the catalog's
# version) says so with this header; its "nothing changed" answers (304) are logged at DEBUG,
# so they do not bury the requests of people. Anything else it asks is logged as usual.
POLL_HEADER = "X-Estante-Poll"


def logged_user_id(user_id: object) -> int | None:
    """The account's id as the log shows it, an integer in both services (the books service
    knows it from the token's ``sub`` claim, a string)."""
    if isinstance(user_id, int):
        return user_id
    if isinstance(user_id, str) and user_id.isascii() and user_id.isdigit():
        return int(user_id)
    return None


def current_request_id() -> str:
    return str(g.get("request_id", ""))


def request_id_for(incoming: str) -> str:
    """The request's id: the caller's ``X-Request-ID`` when it is a sane one, else a new one."""
    return incoming if _SAFE_REQUEST_ID.match(incoming) else os.urandom(16).hex()


def log_request(
    service: str,
    method: str,
    path: str,
    status: int,
    duration_ms: float | None,
    request_id: str,
    user_id: object,
    *,
    level: int = logging.INFO,
) -> None:
    """The request's access log line (when its level is enabled). Only the path: query strings
    and headers may carry tokens, and those are never logged."""
    if not access_log.isEnabledFor(level):
        return
    # makeRecord and handle are what Logger.info does, less finding the caller's frame.
    record = access_log.makeRecord(access_log.name, level, __file__, 0, "request", (), None)
    record.fields = {
        "service": service,
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
        "request_id": request_id,
        "user_id": logged_user_id(user_id),
    }
    access_log.handle(record)


def init_request_log(app: Flask, service: str) -> None:
    @app.before_request
    def start_request() -> None:
        g.request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER, ""))
        g.request_started = request.environ.get(STARTED_KEY) or time.perf_counter()

    @app.after_request
    def finish_request(response: Response) -> Response:
        request_id = current_request_id()
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        level = logging.INFO
        if response.status_code == 304 and POLL_HEADER in request.headers:
            level = logging.DEBUG
        if not access_log.isEnabledFor(level):
            return response
        log_request(
            service,
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            request_id,
            g.get("user_id"),
            level=level,
        )
        return response
