"""Conditional requests (RFC 9110, section 13) at the HTTP edge, for any resource with
versions: a strong ETag naming a version, what a writer's ``If-Match`` asks for
(:class:`Precondition`, 428 when the server requires one), a reader's ``If-None-Match``
answered 304 (:func:`not_modified_response`), and the header's syntax check for request
models (:func:`check_entity_tags`). Domain code never sees an ETag: it is given the versions
the writer accepts (:meth:`Precondition.versions`)."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Response
from pydantic_core import PydanticCustomError
from werkzeug.http import parse_etags

from common.errors import ApiError

# RFC 9110's "#entity-tag": a comma-separated list (empty elements allowed) of optionally weak
# quoted tags; a quoted tag may hold commas.
_ETAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
# Each run of spaces has one place to go (after a tag, or after a comma), so a header that does
# not match fails in linear time: spaces on both sides of the comma made it exponential.
_ETAG_LIST = re.compile(rf"[ \t]*(?:{_ETAG}[ \t]*)?(?:,[ \t]*(?:{_ETAG}[ \t]*)?)*")
# The versions a writer accepts: called with the version the resource is at.
Versions = Callable[[int], bool]


def version_etag(resource_id: int, version: int) -> str:
    """Strong: it names the resource and its version, and every change bumps the version."""
    return f'"{resource_id}-{version}"'


def check_entity_tags(value: str | None) -> str | None:
    """An ``If-Match`` value as RFC 9110 has it: ``*`` or quoted entity-tags. An unquoted
    ``52-1`` is refused rather than guessed at, since a client that strips the quotes has a bug
    it should hear about."""
    if value is not None and value.strip(" \t") != "*" and not _ETAG_LIST.fullmatch(value):
        raise PydanticCustomError(
            "etag", 'must be * or quoted ETags as GET sent them, such as "52-1" (RFC 9110)'
        )
    return value


class PreconditionRequired(ApiError):
    status = 428
    type = "/problems/precondition-required"
    title = "Precondition required"

    def __init__(self) -> None:
        super().__init__(
            "This server requires If-Match on changes: send the ETag you read (from GET) as "
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

    def versions(self, resource_id: int) -> Versions | None:
        """The versions of resource ``resource_id`` (ETags by :func:`version_etag`) the header
        accepts, for the domain to check under its lock; None when it accepts any."""
        if self._etags is None or self._etags.star_tag:
            return None
        return lambda version: self.holds_for(version_etag(resource_id, version))


def not_modified(if_none_match: str | None, current_etag: str) -> bool:
    """Whether a GET with this ``If-None-Match`` can be answered 304 (weak comparison)."""
    if if_none_match is None:
        return False
    etags = parse_etags(if_none_match)
    return etags.star_tag or etags.contains_weak(current_etag.strip('"'))


def not_modified_response(if_none_match: str | None, current_etag: str) -> Response | None:
    """The 304 (no body, the ETag) for a reader who has the current version, else None."""
    if not_modified(if_none_match, current_etag):
        return Response(status=304, headers={"ETag": current_etag})
    return None
