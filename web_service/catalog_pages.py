"""Catalog pages the Books Service sent this worker, kept with their ETag, and the HTML made
from them.

The Books Service tags each ``GET /books`` page with an ETag that changes whenever the catalog
does, and answers ``If-None-Match`` with that tag by a 304 (it builds no page). So the web
service keeps the last page it read for each API request, asks again with the kept tag on every
view, and reuses what it kept only when the API says it is still current: a change made
anywhere (another worker, another replica, the API directly) shows on the very next view,
because the API is asked every time. Nothing is invalidated by hand.

What is kept is the API's data (books, total, the cursors of its Link header) and the results
HTML rendered from it, one per *variant*: the locale, whether the visitor is anonymous, a
reader or a writer (the empty catalog's advice differs), whether htmx asked for the fragment,
and the page's own query and path prefix (the pager's links carry them). Nothing tied to one
browser (its CSRF token, its name, its session) is in the results: the header and the form,
which carry those, are rendered for every view.

The search form above the results is kept too, by itself: it is a function of the page's query
string, locale and path prefix only (no catalog data, nothing of the visitor's).

Per worker, bounded: the most recently used ``max_pages`` API requests; a page whose body is
larger than ``max_page_bytes`` is not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_PAGES = 256
MAX_PAGE_BYTES = 512 * 1024
MAX_VARIANTS = 16  # per page: locales x roles x full/fragment, a few queries spelled apart


@dataclass
class KeptPage:
    """One API page as the Books Service sent it, and what was rendered from it."""

    etag: str
    books: list[dict[str, Any]]
    total: int | None
    cursors: dict[str, str]
    rendered: OrderedDict[Hashable, Any] = field(default_factory=OrderedDict)


def api_key(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The API request a page answers: its query, in one order."""
    return tuple(sorted((name, str(value)) for name, value in params.items()))


class CatalogPages:
    """Thread-safe; one per worker (each worker's threads share it)."""

    def __init__(self, max_pages: int = MAX_PAGES, max_page_bytes: int = MAX_PAGE_BYTES) -> None:
        self.max_pages = max_pages
        self.max_page_bytes = max_page_bytes
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

    def keep(self, key: Hashable, page: KeptPage, size: int) -> None:
        """Keep ``page`` (``size`` bytes of API body) for ``key``, replacing what was kept."""
        with self._lock:
            if size > self.max_page_bytes:
                self._pages.pop(key, None)  # what was kept is older than what was just read
                return
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.max_pages:
                self._pages.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._pages.pop(key, None)

    def rendered(self, page: KeptPage, variant: Hashable) -> Any | None:
        with self._lock:
            return page.rendered.get(variant)

    def keep_rendered(self, page: KeptPage, variant: Hashable, html: Any) -> None:
        with self._lock:
            page.rendered[variant] = html
            while len(page.rendered) > MAX_VARIANTS:
                page.rendered.popitem(last=False)


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
