"""Lists at the HTTP edge, one style for every list of both services (as flask-smorest's
pagination does it): ``?limit=&cursor=`` in (:class:`PageQuery`); out, a JSON array of one page
with an RFC 8288 ``Link`` header (``first``, ``prev``, ``next``, ``last``) and ``X-Total-Count``
(:func:`page_response`), documented by :func:`page_answer`. Which rows make a page, and the
opaque cursors, are :mod:`common.pagination`'s."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for
from pydantic import BaseModel, Field, model_validator

from common.openapi import header
from common.pagination import MAX_CURSOR_LENGTH, Cursor, Page
from common.validation import RequestModel

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
PAGE_HEADERS = {
    "Link": header(
        'RFC 8288 links to the first, prev, next and last pages: <url>; rel="next", ...'
    ),
    "X-Total-Count": header("How many items match, on all pages together", "integer"),
}


class PageQuery(RequestModel):
    limit: int = Field(
        DEFAULT_PAGE_SIZE,
        ge=1,
        le=MAX_PAGE_SIZE,
        description=f"Page size: {DEFAULT_PAGE_SIZE} by default, at most {MAX_PAGE_SIZE}",
    )
    cursor: str | None = Field(
        None,
        max_length=MAX_CURSOR_LENGTH,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="A position, from the Link header's URLs (opaque)",
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_means_absent(cls, data: Any) -> Any:
        """``?author=`` means no author filter, as if it were not there."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v != ""}
        return data


def page_answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI response of a list: a JSON array (``schema``) with the page headers."""
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        "headers": PAGE_HEADERS,
    }


def page_links(page: Page, endpoint: str, query: BaseModel, **url_values: Any) -> str:
    """The ``Link`` header of a page: the request's own (validated) query, filters, sort and
    limit, with each page's cursor. Relative URLs, which carry the proxy's prefix when it is
    trusted."""
    params = query.model_dump(exclude_none=True, exclude={"cursor"})

    def link(cursor: Cursor | None, rel: str) -> str:
        args = {**params, **url_values, **({"cursor": cursor.encode()} if cursor else {})}
        return f'<{url_for(endpoint, **args)}>; rel="{rel}"'

    links = [link(None, "first")]
    if page.prev:
        links.append(link(page.prev, "prev"))
    if page.next:
        links.append(link(page.next, "next"))
    links.append(link(page.last, "last"))
    return ", ".join(links)


def page_response(
    items: list[Any], total: int, page: Page, endpoint: str, query: BaseModel, **url_values: Any
) -> Response:
    """One page of a list: ``items`` as a JSON array, with its ``Link`` and ``X-Total-Count``.
    ``endpoint`` and ``url_values`` name the list's own URL, ``query`` is its validated query."""
    response = jsonify(items)
    response.headers["Link"] = page_links(page, endpoint, query, **url_values)
    response.headers["X-Total-Count"] = str(total)
    return response
