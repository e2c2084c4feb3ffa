"""The public reads served in front of Flask when their answer is in the worker's caches: a
book (``GET /books/<id>``), a page of ``GET /books`` (a list or a search), and the 304s of both.
Their own work (the catalog's version read and a dict lookup, see
:mod:`books_service.page_cache`) costs less than Flask's request machinery around it (request
context, routing, the hooks, pydantic for the path, query and header, the response object).

:class:`CachedReads` is WSGI middleware around the app (inside ProxyFix when proxies are
trusted), like the Auth Service's refresh route. It answers a request itself only when Flask's
answer is already known:

* a ``GET`` of ``/books/`` and ASCII digits, without a query string, whose book is in the cache
  under the version just read: the cached body and its ETag, or the 304 when ``If-None-Match``
  names it, as :func:`books_service.routes.get_book` answers;
* a ``GET`` of ``/books`` whose query string (with the path prefix) Flask's view has validated
  before (the page cache's ``queries``): the 304 when ``If-None-Match`` names the page's ETag
  at the version just read, else the cached page of that version, as
  :func:`books_service.routes.list_books` answers;

and only with an ``If-None-Match`` the header model takes (if any). It then adds what Flask's
hooks add: the request id, the access log line (a poller's 304 at DEBUG) and the metrics
under the route's pattern (:class:`~common.front_route.FrontAnswers`). A token changes nothing
on a read (reads are public: no hook verifies it on a GET), so it is not looked at.

Everything else goes to Flask: other paths and methods (HEAD included), a query string not
validated before, a header Flask's validation would refuse, an answer not cached (a miss, a
404), and a version read that failed (Flask reads again and reports the database's trouble).
A miss is handed the version read here (:data:`VERSION_KEY`), read before the answer is built
as Flask's own read would be, so the request pays one round trip, not two.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask

from books_service.page_cache import CachedPage, PageCache, VersionReader, page_tag
from books_service.schemas.requests import MAX_IF_NONE_MATCH
from common.etag import not_modified
from common.front_route import FrontAnswers
from common.request_log import POLL_HEADER, STARTED_KEY, request_id_for

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The rules' patterns (the metrics' route labels).
BOOK_RULE = "/books/<int:book_id>"
LIST_RULE = "/books"
_BOOK_PREFIX = "/books/"
# Where the catalog's version read here is handed to Flask (see routes.catalog_version).
VERSION_KEY = "estante.catalog_version"
_POLL = "HTTP_" + POLL_HEADER.upper().replace("-", "_")
_JSON = "application/json"


class CachedReads:
    """WSGI middleware: cached books and pages served without Flask (see the module's
    docstring), everything else passed to ``next_app``."""

    def __init__(self, app: Flask, service: str, next_app: WSGIApplication) -> None:
        self.next_app = next_app
        self._books: PageCache = app.extensions["estante.book_cache"]
        self._pages: PageCache = app.extensions["estante.page_cache"]
        self._reader: VersionReader = app.extensions["estante.catalog_version"]
        self._answers = FrontAnswers(app, service)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        given: str | None = environ.get("HTTP_IF_NONE_MATCH")
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or not path.startswith(LIST_RULE)
            or (given is not None and len(given) > MAX_IF_NONE_MATCH)
        ):
            return self.next_app(environ, start_response)
        listing = path == LIST_RULE
        if listing:
            key = self._pages.queries.get(
                environ.get("SCRIPT_NAME", ""), environ.get("QUERY_STRING", "")
            )
        else:
            key = path[len(_BOOK_PREFIX) :]
            if not (
                path.startswith(_BOOK_PREFIX) and key.isascii() and key.isdigit()
            ) or environ.get("QUERY_STRING"):
                key = None
        if key is None:
            return self.next_app(environ, start_response)
        started = environ[STARTED_KEY] = time.perf_counter()
        try:
            version = self._reader.read()
        except Exception:  # Flask's read says what is wrong (a 503 when the database is down)
            return self.next_app(environ, start_response)
        environ[VERSION_KEY] = version
        answer = self._page(version, key, given) if listing else self._book(version, key, given)
        if answer is None:
            return self.next_app(environ, start_response)
        status, headers, body = answer
        level = logging.INFO
        if status == 304 and _POLL in environ:
            level = logging.DEBUG
        return self._answers.send(
            start_response,
            status,
            headers,
            body,
            method="GET",
            path=path,
            route=LIST_RULE if listing else BOOK_RULE,
            request_id=request_id_for(environ.get("HTTP_X_REQUEST_ID", "")),
            started=started,
            level=level,
        )

    def _book(
        self, version: int, key: str, given: str | None
    ) -> tuple[int, list[tuple[str, str]], bytes] | None:
        # The cache's keys are the ids as Flask's converter reads them ("7", never "007").
        book = self._books.get(version, key)
        if book is None:
            return None
        etag = book.headers[0][1]
        if not_modified(given, etag):
            return 304, [("ETag", etag)], b""
        return 200, [("ETag", etag), *_json_headers(book)], book.body

    def _page(
        self, version: int, key: str, given: str | None
    ) -> tuple[int, list[tuple[str, str]], bytes] | None:
        tag = page_tag(version, key)
        current = f"W/{tag}"
        if not_modified(given, tag):  # answered before the page is looked for, as Flask does
            return 304, [("ETag", current)], b""
        page = self._pages.get(version, key)
        if page is None:
            return None
        return 200, [*page.headers, *_json_headers(page), ("ETag", current)], page.body


def _json_headers(answer: CachedPage) -> tuple[tuple[str, str], tuple[str, str]]:
    return ("Content-Type", _JSON), ("Content-Length", str(len(answer.body)))
