"""The writes of one book served in front of Flask when nothing but the write can happen:
``POST /books``, ``PUT /books/<id>`` and ``PATCH /books/<id>``. WSGI middleware, like
:mod:`books_service.cached_reads` and the Auth Service's refresh route. A book's write is the
database's and the catalog's work; around it, Flask's request machinery (the request context,
routing, six hooks before the view and three after it, the response object, ``url_for``) was
about a quarter of a write's CPU.

:class:`FrontWrites` writes a book itself only when Flask's answer could only be the success
(201 for a new book, 200 for a change) or an error of the write itself:

* a ``POST`` of exactly ``/books``, or a ``PUT`` or ``PATCH`` of ``/books/`` and an id in
  ASCII digits without a leading zero (the id as Flask's converter reads it), with no query
  string;
* ``Content-Type: application/json`` (a ``PATCH`` may also say
  ``application/merge-patch+json``) and a ``Content-Length`` within the body limit;
* a bearer token this worker has verified before and still takes
  (:func:`books_service.auth.remembered_token`: before its ``exp``, its key still published,
  not revoked) with a writer's role;
* a body that the view's model validates from its bytes, an ``If-Match`` that the header's
  model takes (or none, where the server does not require one), and a path prefix
  (``SCRIPT_NAME``) of plain characters.

It then does what the view does (:mod:`books_service.routes`: the same record or patch, the
same write by :mod:`books_service.book_writes`, with the duplicate check, the version check
under the book's lock, history, search index and counts in its transaction) and answers as
Flask would: the same status, body and headers in the same order, the request id, the access
log line (with the token's user) and the metrics under the route's pattern
(:class:`~common.front_route.FrontAnswers`).

Everything else goes to Flask, which then answers with its own errors: other paths, methods and
query strings, another media type, no or too long a length, a token it has not verified (or an
expired, revoked or reader's one), a body or ``If-Match`` the models refuse, a missing
``If-Match`` the server requires (428). A body already read is put back for Flask to read. A
write that fails (a duplicate, a book that is not there, a stale ``If-Match``, a database that
is down, anything raised) changed nothing; it is handed to Flask with its error
(:data:`HANDED_ERROR`), which Flask's hooks run up to the view as for any write and the last of
them raises (:func:`books_service.routes.raise_handed_error`), so Flask's error handlers make
the 404, 409, 412, 503 or 500 they would have made from the view.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Flask
from pydantic import ValidationError

from books_service import book_writes, catalog
from books_service.auth import WRITER_ROLES, remembered_token, roles_of, username_of
from books_service.catalog import BookValues
from books_service.representation import book_json
from books_service.schemas import BookFields, BookPatch, IfMatch
from common.db import Database
from common.etag import Precondition, Versions, version_etag
from common.front_route import FrontAnswers
from common.request_log import STARTED_KEY, request_id_for

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The rules' patterns (the metrics' route labels).
LIST_RULE = "/books"
BOOK_RULE = "/books/<int:book_id>"
# Where a write that failed hands its error to Flask (see routes.raise_handed_error).
HANDED_ERROR = "estante.front_write_error"
_BEARER = "Bearer "
_BOOK_PREFIX = "/books/"
# A path prefix url_for copies into Location as it is (no quoting, no IRI conversion).
_PLAIN_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)*/?")
# A book's id as Flask's converter reads it, and short enough to be a number the database
# holds (a longer one is Flask's 404).
_BOOK_ID = re.compile(r"[1-9][0-9]{0,17}")
_JSON = "application/json"
# The media types each method's body may have here (the others are Flask's 415).
_TYPES = {
    "POST": frozenset({_JSON}),
    "PUT": frozenset({_JSON}),
    "PATCH": frozenset({_JSON, "application/merge-patch+json"}),
}


Body = TypeVar("Body", BookFields, BookPatch)


class _HandOn(Exception):
    """The request is Flask's: its answer is not (only) the write's."""


class FrontWrites:
    """WSGI middleware: the writes of one book answered without Flask (see the module's
    docstring), every other request passed to ``next_app``."""

    def __init__(self, app: Flask, service: str, next_app: WSGIApplication) -> None:
        self.next_app = next_app
        self._extensions = app.extensions
        self._db: Database = app.extensions["estante.db"]
        self._max_body: int | None = app.config["MAX_CONTENT_LENGTH"]
        self._require_if_match: bool = app.config["ESTANTE_SETTINGS"].require_if_match
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
        method: str = environ.get("REQUEST_METHOD", "")
        path: str = environ.get("PATH_INFO", "")
        types = _TYPES.get(method)
        if types is None or environ.get("CONTENT_TYPE") not in types or environ.get("QUERY_STRING"):
            return self.next_app(environ, start_response)
        book_id: int | None = None
        if method == "POST":
            if path != LIST_RULE:
                return self.next_app(environ, start_response)
        elif path.startswith(_BOOK_PREFIX) and _BOOK_ID.fullmatch(path, len(_BOOK_PREFIX)):
            book_id = int(path[len(_BOOK_PREFIX) :])
        else:
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
        body = self._read_body(environ, int(length))
        if body is None:
            return self.next_app(environ, start_response)
        try:
            if book_id is None:
                book = self._add(body, claims)
                status, headers = 201, [("Location", f"{prefix.rstrip('/')}/books/{book['id']}")]
            else:
                book = self._change(method, book_id, body, claims, environ)
                status, headers = 200, []
            data = self._dumps(book_json(book), **self._dump_args)
        except _HandOn:
            return self.next_app(environ, start_response)
        except Exception as error:
            # A failed write changed nothing (and an answer that cannot be built after it is
            # the view's 500 too): Flask's handlers answer it as from the view.
            environ[HANDED_ERROR] = error
            return self.next_app(environ, start_response)
        answer = f"{data}\n".encode()
        return self._answers.send(
            start_response,
            status,
            [
                ("Content-Type", _JSON),
                ("Content-Length", str(len(answer))),
                ("ETag", version_etag(book["id"], book["version"])),
                *headers,
            ],
            answer,
            method=method,
            path=path,
            route=LIST_RULE if book_id is None else BOOK_RULE,
            request_id=request_id_for(environ.get("HTTP_X_REQUEST_ID", "")),
            started=started,
            user_id=claims["sub"],
        )

    def _read_body(self, environ: WSGIEnvironment, length: int) -> bytes | None:
        """The body as Flask reads it (Request.get_data): the length, or the whole stream when
        the server says it ends there, up to one byte over the limit; put back for Flask. None
        when it is cut short or over the limit: Flask reads it again and makes the same error
        (400, 413)."""
        stream = environ["wsgi.input"]
        if "wsgi.input_terminated" in environ:  # as Werkzeug asks it
            body = stream.read() if self._max_body is None else stream.read(self._max_body + 1)
            whole = self._max_body is None or len(body) <= self._max_body
        else:
            body = stream.read(length)
            whole = len(body) == length
        environ["wsgi.input"] = io.BytesIO(body)
        return body if whole else None

    def _add(self, body: bytes, claims: dict[str, Any]) -> BookValues:
        """``routes.add_book``'s work."""
        fields = _validated(BookFields, body)
        new = catalog.new_book(fields.record(), by=username_of(claims))
        return book_writes.add(self._db, new)

    def _change(
        self,
        method: str,
        book_id: int,
        body: bytes,
        claims: dict[str, Any],
        environ: WSGIEnvironment,
    ) -> BookValues:
        """``routes.patch_book``'s or ``routes.replace_book``'s work, checked in the view's
        order (the body, then ``If-Match``) before anything is written."""
        by = username_of(claims)
        if method == "PATCH":
            patch = _validated(BookPatch, body).patch()
            versions = self._versions(book_id, environ)
            return book_writes.patch(
                self._db, book_id, patch, by=by, versions=versions, allow_duplicate=False
            )
        record = _validated(BookFields, body).record()
        versions = self._versions(book_id, environ)
        return book_writes.replace(
            self._db, book_id, record, by=by, versions=versions, allow_duplicate=False
        )

    def _versions(self, book_id: int, environ: WSGIEnvironment) -> Versions | None:
        """The versions ``If-Match`` accepts (``routes.accepted_versions``); the header's
        model refusing it, or its absence where the server requires it, is Flask's answer
        (422, 428)."""
        given: str | None = environ.get("HTTP_IF_MATCH")
        if given is None:
            if self._require_if_match:
                raise _HandOn
        else:
            try:
                IfMatch.model_validate({"If-Match": given})
            except ValidationError:
                raise _HandOn from None
        return Precondition(given).versions(book_id)


def _validated(model: type[Body], body: bytes) -> Body:
    """The body as the view's model validates it from its bytes; refused, it is Flask's."""
    try:
        return model.model_validate_json(body)
    except ValidationError:
        raise _HandOn from None
