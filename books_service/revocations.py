"""The auth service's revocation list, fetched over HTTP and cached per process and on disk.

Tokens are verified here with the public key alone, so a logout, a disabled or deleted user or
a role change would go unnoticed until the token expires. The auth service publishes what it
revoked among unexpired tokens (``/.well-known/revocations.json``); this cache fetches it when
older than ``max_age`` (at most once per ``max_age`` per process, by one request while the
others go on with the list they have) and refuses a token it names.

A failed fetch never fails a request: the last good list stays, and it is also kept in a file
beside the JWKS cache, so after a restart with the auth service down the revocations known
before still hold. The window that remains is documented in docs/security.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from books_service.jwks import fetch_json, read_json_file, write_json_file
from common.revocation_list import EMPTY, RevocationList, read_revocation_list

log = logging.getLogger("estante.revocations")
# The sessions ended within one access-token lifetime (some 200,000 at 35 bytes each):
# generous, yet bounded.
MAX_REVOCATIONS_BYTES = 8 * 1024 * 1024
# After a failed fetch, the least wait before the next one, so an unreachable auth service
# costs one slow request per worker and second at most, even with max_age 0.
RETRY_AFTER_FAILURE = 1.0


def parse_revocations(document: object) -> RevocationList:
    """The list in a fetched ``document``, its malformed entries skipped (and logged); raises
    ValueError when it is not a revocation list (see :mod:`common.revocation_list`)."""
    revocation_list, skipped = read_revocation_list(document)
    if skipped:
        log.warning("skipping malformed revocations", extra={"fields": {"skipped": skipped}})
    return revocation_list


def fetch_revocations(url: str, timeout: float) -> object:
    return fetch_json(url, timeout, MAX_REVOCATIONS_BYTES)


class RevocationCache:
    def __init__(
        self,
        url: str,
        *,
        max_age: float = 5.0,
        timeout: float = 3.0,
        cache_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        fetch: Callable[[str, float], object] = fetch_revocations,
    ) -> None:
        self.url = url
        self.max_age = max_age
        self.timeout = timeout
        self.cache_file = cache_file
        self._clock = clock
        self._fetch = fetch
        self._list = self._load_cache_file() or EMPTY
        self._next_fetch: float | None = None  # None: at the first request
        self._lock = threading.Lock()

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        return self.current().revokes(claims)

    def current(self) -> RevocationList:
        """The newest list known, refreshed first when it is due. Never raises."""
        if self._is_due() and self._lock.acquire(blocking=False):
            # Only one request per process fetches; the others go on with the list they have.
            try:
                if self._is_due():
                    self._refresh()
            finally:
                self._lock.release()
        return self._list

    def _is_due(self) -> bool:
        return self._next_fetch is None or self._clock() >= self._next_fetch

    def _refresh(self) -> None:
        started = self._clock()
        try:
            document = self._fetch(self.url, self.timeout)
            fetched = parse_revocations(document)
        except Exception as error:  # a bad answer, whatever its kind, must never fail a request
            self._next_fetch = started + max(self.max_age, RETRY_AFTER_FAILURE)
            log.warning(
                "revocation list fetch failed; keeping the last good one",
                extra={"fields": {"url": self.url, "error": str(error)}},
            )
            # Another worker may have fetched a newer list before the auth service went away.
            from_file = self._load_cache_file()
            if from_file is not None and from_file.issued_at > self._list.issued_at:
                self._list = from_file
            return
        self._next_fetch = started + self.max_age
        changed = (fetched.users, fetched.sessions) != (self._list.users, self._list.sessions)
        self._list = fetched
        if changed:
            write_json_file(self.cache_file, document)

    def _load_cache_file(self) -> RevocationList | None:
        document = read_json_file(self.cache_file)
        if document is None:
            return None
        try:
            return parse_revocations(document)
        except ValueError as error:
            log.warning(
                "ignoring the revocation cache file", extra={"fields": {"error": str(error)}}
            )
            return None
