"""Conditional requests (RFC 9110, section 13) on a book: which version a writer's ``If-Match``
names, and whether a reader's ``If-None-Match`` already has the current one. No Flask here:
the routes pass the raw header values."""

from __future__ import annotations

from werkzeug.http import parse_etags

from common.errors import ApiError


class PreconditionRequired(ApiError):
    status = 428
    type = "/problems/precondition-required"
    title = "Precondition required"

    def __init__(self) -> None:
        super().__init__(
            "This server requires If-Match on changes: send the book's ETag (from GET) as "
            "If-Match, so a change made by someone else meanwhile is never overwritten."
        )


class Precondition:
    """What an ``If-Match`` header asks for: nothing (absent), any current version (``*``), or
    one of a set of ETags. Weak ETags never match (RFC 9110 requires strong comparison)."""

    def __init__(self, header: str | None, *, required: bool = False) -> None:
        if header is None and required:
            raise PreconditionRequired()
        self._etags = parse_etags(header) if header is not None else None

    @property
    def given(self) -> bool:
        return self._etags is not None

    def holds_for(self, current_etag: str) -> bool:
        if self._etags is None or self._etags.star_tag:
            return True
        return self._etags.contains(current_etag.strip('"'))


def not_modified(if_none_match: str | None, current_etag: str) -> bool:
    """Whether a GET with this ``If-None-Match`` can be answered 304 (weak comparison)."""
    if if_none_match is None:
        return False
    etags = parse_etags(if_none_match)
    return etags.star_tag or etags.contains_weak(current_etag.strip('"'))
