"""The auth service's public keys, fetched over HTTP and cached per process.

A token names its key by ``kid``. A known kid is served from the cache; an unknown one triggers
one re-fetch (the auth service may have rotated its key), but at most once per cooldown, so a
flood of made-up kids cannot hammer the auth service.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable

from jwt import PyJWK, PyJWKError

from common.tokens import UnknownSigningKey

log = logging.getLogger("estante.jwks")
MAX_JWKS_BYTES = 256 * 1024


class JwksUnavailable(Exception):
    """No key is known yet and the auth service cannot be reached."""


def fetch_jwks(url: str, timeout: float) -> dict[str, PyJWK]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        document = json.loads(response.read(MAX_JWKS_BYTES))
    keys: dict[str, PyJWK] = {}
    for entry in document.get("keys", []):
        kid = entry.get("kid")
        try:
            if kid:
                keys[kid] = PyJWK(entry)
        except PyJWKError:
            log.warning("skipping an unusable key in the JWKS", extra={"fields": {"kid": kid}})
    return keys


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 3.0,
        cooldown: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        fetch: Callable[[str, float], dict[str, PyJWK]] = fetch_jwks,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.cooldown = cooldown
        self._clock = clock
        self._fetch = fetch
        self._keys: dict[str, PyJWK] = {}
        self._last_attempt: float | None = None
        self._lock = threading.Lock()

    def key_for(self, kid: str) -> PyJWK:
        key = self._keys.get(kid)
        if key is None:
            with self._lock:
                key = self._keys.get(kid)
                if key is None and self._may_refetch():
                    self._refresh()
                    key = self._keys.get(kid)
        if key is not None:
            return key
        if not self._keys:
            raise JwksUnavailable("the auth service's public keys could not be fetched")
        raise UnknownSigningKey("the token was signed by an unknown key")

    def _may_refetch(self) -> bool:
        if self._last_attempt is None:
            return True
        # With no key at all nothing can be verified: retry sooner, but never in a tight loop.
        wait = min(self.cooldown, 1.0) if not self._keys else self.cooldown
        return self._clock() - self._last_attempt >= wait

    def _refresh(self) -> None:
        self._last_attempt = self._clock()
        try:
            keys = self._fetch(self.url, self.timeout)
        except (OSError, ValueError) as error:  # URLError and JSON errors are among these
            log.warning(
                "JWKS fetch failed", extra={"fields": {"url": self.url, "error": str(error)}}
            )
            return
        if keys:
            self._keys = keys
