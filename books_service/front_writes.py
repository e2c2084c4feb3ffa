"""``POST /books`` served in front of Flask when nothing but the write can happen: WSGI
middleware, like :mod:`books_service.cached_reads` and the Auth Service's refresh route. A
book's write is SQLite's and the catalog's work; around it, Flask's request machinery (the
request context, routing, six hooks before the view and three after it, the response object,
``url_for``) was about a quarter of a POST's CPU.

:class:`FrontWrites` adds a book itself only when Flask's answer could only be the 201: a
``POST`` of exactly ``/books`` with no query string, ``Content-Type: application/json`` and a
``Content-Length`` within the body limit, a bearer token this worker has verified before and
still takes (:func:`books_service.auth.remembered_token`: before its ``exp``, its key still
published, not revoked) with a writer's role, a body that the view's model validates from its
bytes, and a path prefix (``SCRIPT_NAME``) of plain characters. It then does what the view
does (:func:`books_service.routes.add_book`: the same record, the same write by
:func:`books_service.book_writes.add`, the duplicate check, history, search index and counts
in its transaction) and
answers as Flask would: the same status, body and headers in the same order, the request id,
the access log line (with the token's user) and the metrics under the route's pattern
(:class:`~common.front_route.FrontAnswers`).

Everything else goes to Flask, which then answers with its own errors: other paths, methods and
query strings, another media type, no or too long a length, a token it has not verified (or an
expired, revoked or reader's one), a body the model refuses. A body already read is put back
for Flask to read. A write that fails (a duplicate, a database that is down, anything raised)
changed nothing; it is handed to Flask with its error (:data:`HANDED_ERROR`), which Flask's
hooks run up to the view as for any POST and the last of them raises
(:func:`books_service.routes.raise_handed_error`), so Flask's error handlers make the 409, 503
or 500 they would have made from the view.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask
from pydantic import ValidationError

from books_service import book_writes, catalog
from books_service.auth import WRITER_ROLES, remembered_token, roles_of, username_of
from books_service.representation import book_json
from books_service.schemas import BookFields
from common.db import Database
from common.etag import version_etag
from common.front_route import FrontAnswers
from common.request_log import STARTED_KEY, request_id_for

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

LIST_RULE = "/books"  # the rule's pattern (the metrics' route label)
# Where a write that failed hands its error to Flask (see routes.raise_handed_error).
HANDED_ERROR = "estante.front_write_error"
_BEARER = "Bearer "
# A path prefix url_for copies into Location as it is (no quoting, no IRI conversion).
_PLAIN_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)*/?")


class FrontWrites:
    """WSGI middleware: ``POST /books`` answered without Flask (see the module's docstring),
    every other request passed to ``next_app``."""

    def __init__(self, app: Flask, service: str, next_app: WSGIApplication) -> None:
        self.next_app = next_app
        self._extensions = app.extensions
        self._db: Database = app.extensions["estante.db"]
        self._max_body: int | None = app.config["MAX_CONTENT_LENGTH"]
        self._answers = FrontAnswers(app, service)
        json = app.json
        # jsonify's own choice (DefaultJSONProvider.response): indented in debug, else compact.
        compact = getattr(json, "compact", None)
        self._dump_args: dict[str, Any] = (
            {"indent": 2}
            if (compact is None and app.debug) or compact is False
            else {"separators": (",", ":")}
        )
        self._dumps = json.dumps

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or environ.get("PATH_INFO") != LIST_RULE
            or environ.get("QUERY_STRING")
            or environ.get("CONTENT_TYPE") != "application/json"
        ):
            return self.next_app(environ, start_response)
        started = environ[STARTED_KEY] = time.perf_counter()
        authorization: str = environ.get("HTTP_AUTHORIZATION", "")
        length: str = environ.get("CONTENT_LENGTH", "")
        prefix: str = environ.get("SCRIPT_NAME", "")
        try:
            known = (
                remembered_token(self._extensions, authorization)
                if authorization.startswith(_BEARER)
                else None
            )
        except Exception:  # Flask's check fails the same way, and answers it
            known = None
        if (
            known is None
            or not (WRITER_ROLES & roles_of(known[1]))
            or not (length.isascii() and length.isdigit())
            or (self._max_body is not None and int(length) > self._max_body)
            or not _PLAIN_PREFIX.fullmatch(prefix)
        ):
            return self.next_app(environ, start_response)
        claims = known[1]
        # What Flask reads (Request.get_data): the length, or the whole stream when the server
        # says it ends there, up to one byte over the limit. Handed on, Flask reads it again
        # and makes the same error of a body cut short (400) or over the limit (413).
        stream = environ["wsgi.input"]
        if "wsgi.input_terminated" in environ:  # as Werkzeug asks it
            body = stream.read() if self._max_body is None else stream.read(self._max_body + 1)
            whole = self._max_body is None or len(body) <= self._max_body
        else:
            body = stream.read(int(length))
            whole = len(body) == int(length)
        environ["wsgi.input"] = io.BytesIO(body)
        if not whole:
            return self.next_app(environ, start_response)
        try:
            fields = BookFields.model_validate_json(body)
        except ValidationError:
            return self.next_app(environ, start_response)
        try:
            new = catalog.new_book(fields.record(), by=username_of(claims))
            book = book_writes.add(self._db, new)
            data = self._dumps(book_json(book), **self._dump_args)
        except Exception as error:
            # A failed write changed nothing (and an answer that cannot be built after it is
            # the view's 500 too): Flask's handlers answer it as from the view.
            environ[HANDED_ERROR] = error
            return self.next_app(environ, start_response)
        answer = f"{data}\n".encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(answer))),
            ("ETag", version_etag(book["id"], book["version"])),
            ("Location", f"{prefix.rstrip('/')}/books/{book['id']}"),
        ]
        return self._answers.send(
            start_response,
            201,
            headers,
            answer,
            method="POST",
            path=LIST_RULE,
            route=LIST_RULE,
            request_id=request_id_for(environ.get("HTTP_X_REQUEST_ID", "")),
            started=started,
            user_id=claims["sub"],
        )
