"""``GET /books/<id>`` served in front of Flask when the book is in the worker's cache: the
busiest read, whose own work (the catalog's version read and a dict lookup, see
:mod:`books_service.page_cache`) costs less than Flask's request machinery around it (request
context, routing, the hooks, pydantic for the path and the header, the response object).

:class:`BookRoute` is WSGI middleware around the app (inside ProxyFix when proxies are
trusted), like the Auth Service's refresh route. It answers a request itself only when Flask's
answer is already known: a ``GET`` of ``/books/`` and ASCII digits, with no query string, an
``If-None-Match`` within the header model's length (if any), and the book in the cache under
the version just read. It then answers as :func:`books_service.routes.get_book` does: the
cached body and its ETag, or the 304 when ``If-None-Match`` names it, with the request id, the
access log line (a poller's 304 at DEBUG) and the metrics under the route's pattern
(:class:`~common.front_route.FrontAnswers`). A token changes nothing on a read (reads are
public: no hook verifies it on a GET), so it is not looked at.

Everything else goes to Flask: other paths and methods (HEAD included), a query string, a
header Flask's validation would refuse, a book not cached (a miss, a 404), and a version read
that failed (Flask reads again and reports the database's trouble). A miss is handed the version
read here (:data:`VERSION_KEY`), read before the book is built as Flask's own read would be, so
the request pays one round trip, not two.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask

from books_service.page_cache import PageCache, VersionReader
from books_service.schemas.requests import MAX_IF_NONE_MATCH
from common.etag import not_modified
from common.front_route import FrontAnswers
from common.request_log import POLL_HEADER, STARTED_KEY, request_id_for

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The rule's pattern (the metrics' route label) and the path's fixed part.
BOOK_RULE = "/books/<int:book_id>"
_PREFIX = "/books/"
# Where the catalog's version read here is handed to Flask (see routes.catalog_version).
VERSION_KEY = "estante.catalog_version"
_POLL = "HTTP_" + POLL_HEADER.upper().replace("-", "_")


class BookRoute:
    """WSGI middleware: cached books served without Flask (see the module's docstring),
    everything else passed to ``next_app``."""

    def __init__(self, app: Flask, service: str, next_app: WSGIApplication) -> None:
        self.next_app = next_app
        self._books: PageCache = app.extensions["estante.book_cache"]
        self._reader: VersionReader = app.extensions["estante.catalog_version"]
        self._answers = FrontAnswers(app, service)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        key = path[len(_PREFIX) :]
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or not path.startswith(_PREFIX)
            or not (key.isascii() and key.isdigit())
            or environ.get("QUERY_STRING")
        ):
            return self.next_app(environ, start_response)
        given: str | None = environ.get("HTTP_IF_NONE_MATCH")
        if given is not None and len(given) > MAX_IF_NONE_MATCH:
            return self.next_app(environ, start_response)
        started = environ[STARTED_KEY] = time.perf_counter()
        try:
            version = self._reader.read()
        except Exception:  # Flask's read says what is wrong (a 503 when the database is down)
            return self.next_app(environ, start_response)
        environ[VERSION_KEY] = version
        # The cache's keys are the ids as Flask's converter reads them ("7", never "007").
        book = self._books.get(version, key)
        if book is None:
            return self.next_app(environ, start_response)
        etag = book.headers[0][1]
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        if not_modified(given, etag):
            level = logging.DEBUG if _POLL in environ else logging.INFO
            status, headers, body = 304, [("ETag", etag)], b""
        else:
            level = logging.INFO
            headers = [
                ("ETag", etag),
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(book.body))),
            ]
            status, body = 200, book.body
        return self._answers.send(
            start_response,
            status,
            headers,
            body,
            method="GET",
            path=path,
            route=BOOK_RULE,
            request_id=request_id,
            started=started,
            level=level,
        )
