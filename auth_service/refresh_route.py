"""``POST /token/refresh`` served in front of Flask: the busiest endpoint after the reads, and one
whose work (a rotation: one short transaction and a signature) cost less than Flask's request
machinery around it (request context, routing, the hooks of every route, flask-limiter,
flask-openapi3's view wrapper, the response's after-request hooks).

:class:`RefreshRoute` is WSGI middleware around the app (inside ProxyFix, when proxies are
trusted, so that it sees the client's address as Flask does). It serves a refresh itself only
when nothing but the rotation can happen: ``POST /token/refresh``, a JSON body of known length
within the limit that parses to an object and validates as :class:`RefreshRequest`, and, with
the rate limits on, the request counted within its address's limits. It then does what Flask's
path does for that request: the request id (taken or made, returned in ``X-Request-ID``), the
rotation through :func:`sessions.rotate` in an app context, the same JSON answer built by the
same functions, the ``X-RateLimit-*`` headers, the access log line and the metrics, under the
route's own pattern.

The count is flask-limiter's own (:class:`~auth_service.rate_limits.ViewLimits`: the same
bucket, limits, strategy and headers). A refresh the route does not count is Flask's to count:
one whose limit is breached (flask-limiter answers its 429 as before; such a refused request
may be counted twice, once here and once there, which can only refuse more, never let more
through), one from an empty address, one met with a storage error (flask-limiter swallows it,
or falls back to memory, as configured) or arriving while the limiter is on its in-memory
fallback (flask-limiter also notices the storage's return).

Every other request, and every refresh that fails, goes through Flask as before, so each error
keeps its problem, its headers, its log line and its metrics from the one place that makes them:
the body is put back for Flask to read, and a rotation that raised hands Flask its exception
(:data:`OUTCOME`), which the view raises instead of rotating again (the rotation's effects, a
reuse's revocation among them, are committed once). Such a refresh was counted here: it is
marked (:data:`~auth_service.rate_limits.COUNTED`) so that flask-limiter does not count it
again, and the route adds the ``X-RateLimit-*`` headers flask-limiter would have.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from flask import Flask
from pydantic import ValidationError
from werkzeug.wrappers import Response as WsgiResponse

from auth_service import sessions
from auth_service.rate_limits import COUNTED, ViewLimits
from auth_service.schemas import RefreshRequest
from auth_service.tokens import sign_access_token, token_response
from common.front_route import FrontAnswers
from common.request_log import STARTED_KEY, request_id_for

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

REFRESH_PATH = "/token/refresh"
# The environ key under which a rotation's exception is handed to the Flask view.
OUTCOME = "estante.refresh.error"
_JSON = "application/json"


def _adding(headers: list[tuple[str, str]], start_response: StartResponse) -> StartResponse:
    """``start_response`` that adds ``headers`` to the response's."""

    def start(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None, /) -> Any:
        return start_response(status, [*response_headers, *headers], exc_info)

    return start


class RefreshRoute:
    """WSGI middleware: ``POST /token/refresh`` served without Flask's request machinery when
    it can be (see the module's docstring), everything else passed to ``next_app``."""

    def __init__(self, app: Flask, service: str, next_app: WSGIApplication) -> None:
        self._app = app
        self.next_app = next_app
        self._limits: ViewLimits = app.extensions["estante.refresh_limits"]
        self._answers = FrontAnswers(app, service)
        self._max_body: int | None = app.config["MAX_CONTENT_LENGTH"]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != REFRESH_PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.next_app(environ, start_response)
        started = environ[STARTED_KEY] = time.perf_counter()
        raw = self._read_body(environ)
        if raw is None:  # no length given, or too long: not read, Flask decides
            return self.next_app(environ, start_response)
        # Put back for Flask, should it be the one to answer.
        environ["wsgi.input"] = io.BytesIO(raw)
        # A short body (the client went away) is Flask's to refuse, as before.
        body = self._checked_body(raw) if self._complete(raw, environ) else None
        if body is None:
            return self.next_app(environ, start_response)
        limit_headers: list[tuple[str, str]] = []
        if self._limits.enabled:
            counted = self._count(environ.get("REMOTE_ADDR", ""))
            if counted is None:  # flask-limiter counts it (and refuses it, or not)
                return self.next_app(environ, start_response)
            limit_headers = environ[COUNTED] = counted
            start_response = _adding(limit_headers, start_response)
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        app = self._app
        with app.app_context():
            try:
                policy = app.extensions["estante.policies"].session
                issued = sessions.rotate(
                    app.extensions["estante.db"], body.refresh_token, policy, sign=sign_access_token
                )
                # Flask's JSON response, as jsonify makes it (typed as the sans-IO base class).
                response = cast(
                    WsgiResponse, app.json.response(token_response(issued).model_dump())
                )
            except Exception as error:  # Flask's error handlers render it
                environ[OUTCOME] = error
                response = None
        if response is None:
            return self.next_app(environ, start_response)
        chunks, _, headers = response.get_wsgi_response(environ)
        return self._answers.send(
            start_response,
            response.status_code,
            headers,
            b"".join(chunks),
            method="POST",
            path=REFRESH_PATH,
            route=REFRESH_PATH,
            request_id=request_id,
            started=started,
            user_id=issued.user.id,
        )

    def _count(self, address: str) -> list[tuple[str, str]] | None:
        """The request counted against its address's limits: their headers, or ``None`` when
        flask-limiter is to count it instead (see the module's docstring)."""
        if not address:  # flask-limiter's key for it is its own ("127.0.0.1")
            return None
        try:
            return self._limits.hit(address)
        except Exception:  # the storage failed: flask-limiter handles that (falls back, or not)
            return None

    def _read_body(self, environ: WSGIEnvironment) -> bytes | None:
        """The body, when it is JSON of a stated length within the limit; ``None`` (and the
        stream untouched) otherwise."""
        content_type = environ.get("CONTENT_TYPE", "")
        if content_type.partition(";")[0].strip().lower() != _JSON:
            return None
        length = environ.get("CONTENT_LENGTH", "")
        if not (length.isascii() and length.isdigit()):
            return None
        size = int(length)
        if self._max_body is not None and size > self._max_body:
            return None
        raw: bytes = environ["wsgi.input"].read(size)
        return raw

    @staticmethod
    def _complete(raw: bytes, environ: WSGIEnvironment) -> bool:
        return len(raw) == int(environ["CONTENT_LENGTH"])

    @staticmethod
    def _checked_body(raw: bytes) -> RefreshRequest | None:
        """The body as the view takes it, or ``None`` when Flask's checks would refuse it
        (they then answer, with their own 400 or 422)."""
        try:
            data: Any = json.loads(raw)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict):
            return None
        try:
            return RefreshRequest.model_validate(data)
        except ValidationError:
            return None
