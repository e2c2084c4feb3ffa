"""Catalog pages the Books Service sent this worker, kept with their ETag and the catalog's
version, and the HTML made from them.

A kept page is served without asking the API while the catalog's version it was read under is
still the current one (see :mod:`web_service.catalog_version`: learnt a few times a second,
with a bounded staleness). Otherwise the web service asks again with the kept ETag: the Books
Service answers 304 (it builds no page) while the page is still current, or sends the new one.
Nothing is invalidated by hand.

What is kept is the API's data (its body as sent, the total, the cursors of its Link header)
and, per
*variant*, the whole HTML answer made from it (:class:`RenderedPage`): per locale, kind of
visitor (anonymous, reader, librarian, administrator: the navigation and the empty catalog's
advice differ), full page or htmx fragment, path prefix and query string as the browser sent it
(the form, the pager's links and the log-in link carry it). What is tied to one browser (its
CSRF token, its user's name) is not in it: it is rendered with stand-ins, which are
replaced by each browser's own values when the page is served.

The search form is kept too, by itself: it is a function of the page's query string, locale
and path prefix only (no catalog data, nothing of the visitor's), so a new catalog version does
not render it again.

Per worker, bounded: the most recently used ``max_pages`` API requests, and no more than
``max_bytes`` of API bodies and HTML together, counted as the memory they take; a page whose
body is larger than ``max_page_bytes`` is not kept. The body is kept as the API's bytes and
parsed only to render a variant not kept yet: parsed, 50 books take 3.3-3.4 times their JSON
(~95 KB against ~28 KB), and a kept variant needs no parsing at all.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import escape

MAX_PAGES = 256
MAX_PAGE_BYTES = 512 * 1024
# What a worker should hold: the first pages and the common searches of the catalog, with their
# variants (a page of 50 books: ~28 KB of body and ~20-60 KB per variant), at most 16 MiB.
MAX_BYTES = 16 * 1024 * 1024
# Per page: 2 locales x 4 kinds of visitor x full/fragment, and a few queries spelled apart.
MAX_VARIANTS = 32

# Stand-ins for what is tied to one browser, rendered into a kept page in their place: random
# for each process (so no book, query or name can carry one), letters and digits only (so
# escaping leaves them as they are wherever they stand).
CSRF_STAND_IN = f"csrf{secrets.token_hex(16)}"
NAME_STAND_IN = f"name{secrets.token_hex(16)}"
_STAND_INS = re.compile(f"({CSRF_STAND_IN}|{NAME_STAND_IN})")


@dataclass(frozen=True)
class RenderedPage:
    """An HTML answer with stand-ins, cut at them: the odd pieces are the stand-ins."""

    pieces: tuple[str, ...]
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, html: str, headers: tuple[tuple[str, str], ...] = ()) -> RenderedPage:
        return cls(tuple(_STAND_INS.split(html)), headers)

    @property
    def size(self) -> int:
        """The memory its pieces take (a text with a character beyond Latin-1 takes 2 or 4
        bytes a character)."""
        return sum(sys.getsizeof(piece) for piece in self.pieces)

    def fill(self, csrf_token: str, username: str | None) -> str:
        """The answer for one browser: its CSRF token and its user's name (escaped) in place
        of the stand-ins."""
        values = {
            CSRF_STAND_IN: str(escape(csrf_token)),
            NAME_STAND_IN: str(escape(username or "")),
        }
        pieces = list(self.pieces)
        for index in range(1, len(pieces), 2):
            pieces[index] = values[pieces[index]]
        return "".join(pieces)


@dataclass
class KeptPage:
    """One API page as the Books Service sent it, and what was rendered from it."""

    etag: str
    body: bytes  # the API's JSON array of books, as sent
    total: int | None
    cursors: dict[str, str]
    total_estimated: bool = False  # the API said X-Total-Count-Estimated: an "about" count
    # The catalog's version (its tag) last known to be current when this page was (re)read:
    # the page is at least as new as it.
    version: str | None = None
    size: int = 0
    rendered: OrderedDict[Hashable, RenderedPage] = field(default_factory=OrderedDict)

    @property
    def books(self) -> list[dict[str, Any]]:
        """The books, parsed anew for each rendering (kept parsed, they would take 3.3 times
        the memory, for the rare variant not rendered yet)."""
        books: list[dict[str, Any]] = json.loads(self.body)
        return books


def api_key(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The API request a page answers: its query, in one order."""
    return tuple(sorted((name, str(value)) for name, value in params.items()))


class CatalogPages:
    """Thread-safe; one per worker (each worker's threads share it)."""

    def __init__(
        self,
        max_pages: int = MAX_PAGES,
        max_page_bytes: int = MAX_PAGE_BYTES,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.max_pages = max_pages
        self.max_page_bytes = max_page_bytes
        self.max_bytes = max_bytes
        self.bytes = 0  # of the kept pages' API bodies and HTML
        self._pages: OrderedDict[Hashable, KeptPage] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: Hashable) -> KeptPage | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def keep(self, key: Hashable, page: KeptPage) -> None:
        """Keep ``page`` for ``key``, replacing what was kept."""
        size = sys.getsizeof(page.body)
        with self._lock:
            self._drop(key)  # what was kept is older than what was just read
            if len(page.body) > self.max_page_bytes:
                return
            page.size = size
            self._pages[key] = page
            self.bytes += size
            self._bound()

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._drop(key)

    def rendered(self, page: KeptPage, variant: Hashable) -> RenderedPage | None:
        with self._lock:
            return page.rendered.get(variant)

    def keep_rendered(
        self, key: Hashable, page: KeptPage, variant: Hashable, html: RenderedPage
    ) -> None:
        """Keep ``html`` with ``page`` while the page is the one kept for ``key``."""
        with self._lock:
            if self._pages.get(key) is not page:
                return  # replaced or dropped meanwhile: nothing would find it
            old = page.rendered.pop(variant, None)
            page.rendered[variant] = html
            added = html.size - (old.size if old else 0)
            while len(page.rendered) > MAX_VARIANTS:
                added -= page.rendered.popitem(last=False)[1].size
            page.size += added
            self.bytes += added
            self._bound()

    def _drop(self, key: Hashable) -> None:
        page = self._pages.pop(key, None)
        if page is not None:
            self.bytes -= page.size

    def _bound(self) -> None:
        while self._pages and (len(self._pages) > self.max_pages or self.bytes > self.max_bytes):
            self.bytes -= self._pages.popitem(last=False)[1].size


class RenderedForms:
    """The catalog's search form as rendered for a query string, locale and path prefix: the
    most recently used ``max_forms``. Thread-safe; one per worker."""

    def __init__(self, max_forms: int = 512) -> None:
        self.max_forms = max_forms
        self._forms: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            form = self._forms.get(key)
            if form is not None:
                self._forms.move_to_end(key)
            return form

    def keep(self, key: Hashable, form: Any) -> None:
        with self._lock:
            self._forms[key] = form
            self._forms.move_to_end(key)
            while len(self._forms) > self.max_forms:
                self._forms.popitem(last=False)
