"""Pages of ``GET /books`` kept per worker under the catalog's version.

A page is a pure function of the catalog and the request's (validated) query and path prefix,
so a page computed when the catalog was at version *v* (see :func:`counts.catalog_version`) is
the page for every later request that reads version *v*. Every change to the catalog adds to
the version in its own transaction, so a change any worker or replica commits makes every
worker's pages of older versions unreachable: nothing is invalidated by hand, and nothing stale
can be served. The version is read before the page, so on PostgreSQL (each statement its own
snapshot) a page is never older than the version it is stored under; on SQLite the read
transaction sees both at once.

The same version makes the page's ETag, so a client holding the page it last read gets a 304
without the page being built at all.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

# Pages of many sizes, filters and cursors: the most recently used ones of the current version.
MAX_PAGES = 256
MAX_PAGE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CachedPage:
    body: bytes
    headers: tuple[tuple[str, str], ...]


def page_tag(version: int, key: str) -> str:
    """The page's entity tag, quoted: the same page for as long as the catalog is at
    ``version``. Sent weak (``W/`` before it): Link URLs may differ by host or scheme."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return f'"{version}-{digest}"'


class PageCache:
    """Thread-safe; holds the pages of one version, the newest this worker has read."""

    def __init__(self, max_pages: int = MAX_PAGES) -> None:
        self.max_pages = max_pages
        self._version = -1
        self._pages: OrderedDict[str, CachedPage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: int, key: str) -> CachedPage | None:
        with self._lock:
            if version != self._version:
                return None
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, version: int, key: str, page: CachedPage) -> None:
        if len(page.body) > MAX_PAGE_BYTES:
            return
        with self._lock:
            if version < self._version:
                return  # read by a request that started before a newer version was seen
            if version > self._version:
                self._version = version
                self._pages.clear()
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.max_pages:
                self._pages.popitem(last=False)
