"""Reading a listing a page at a time, whichever of the services' two paging styles it uses:
a JSON array with RFC 8288 ``Link`` headers (every listing now), or an object with ``items``,
``page``, ``per_page`` and ``total`` (``/admin/users`` of Auth Services older than this command,
which may still be running on a server)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from estante_cli.errors import CliError

Fetch = Callable[[str, dict[str, Any]], httpx.Response]


@dataclass
class Listing:
    """Items read so far, and how many the whole listing has (if the service says)."""

    items: list[dict[str, Any]]
    total: int | None


def read(
    fetch: Fetch,
    path: str,
    params: dict[str, Any],
    *,
    limit: int | None,
    page_size: int,
    size_param: str | None = "limit",
) -> Listing:
    """Up to ``limit`` items (all when None) from ``path``; ``fetch(path_or_url, params)``
    sends one GET. Without ``size_param`` the service's own page size is used (for a listing
    whose size parameter is not known in advance)."""
    items: list[dict[str, Any]] = []
    total: int | None = None
    for page_items, page_total in pages(fetch, path, params, limit, page_size, size_param):
        total = page_total if page_total is not None else total
        items.extend(page_items)
        if limit is not None and len(items) >= limit:
            return Listing(items[:limit], total)
    return Listing(items, total)


def pages(
    fetch: Fetch,
    path: str,
    params: dict[str, Any],
    limit: int | None,
    page_size: int,
    size_param: str | None,
) -> Iterator[tuple[list[dict[str, Any]], int | None]]:
    size = min(page_size, limit) if limit else page_size
    url: str | None = path
    query: dict[str, Any] = {**params, size_param: size} if size_param else dict(params)
    page_number = 1
    followed: set[str] = set()
    while url:
        response = fetch(url, query)
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("items"), list):
            total = int(body["total"]) if "total" in body else None
            yield body["items"], total
            page_number += 1
            seen = (page_number - 1) * int(body.get("per_page", size))
            done = not body["items"] or (total is not None and seen >= total)
            url, query = (None, {}) if done else (path, {**query, "page": page_number})
            continue
        if not isinstance(body, list):
            return
        count = response.headers.get("X-Total-Count")
        yield body, int(count) if count and count.isdigit() else None
        following = response.links.get("next", {}).get("url")
        # The Link URL carries the whole query (filters, sort, cursor): it is followed as is.
        url, query = (str(response.url.join(following)), {}) if following else (None, {})
        if url in followed:
            raise CliError(f"the service's next page is one already read ({url})")
        followed.add(url or "")
