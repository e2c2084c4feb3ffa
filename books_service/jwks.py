"""The auth service's public keys, fetched over HTTP and cached per process and on disk.

A token names its key by ``kid``. A known kid is served from the cache; an unknown one triggers
one re-fetch (the auth service may have rotated its key), but at most once per cooldown, so a
flood of made-up kids cannot hammer the auth service. The cache is also refreshed when older
than ``max_age`` (so retired keys drop out), and every good answer is written to a file: after
a restart the service verifies tokens even while the auth service is down.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import g, has_request_context
from jwt import PyJWK, PyJWKError

from common.tokens import UnknownSigningKey

log = logging.getLogger("estante.jwks")
MAX_JWKS_BYTES = 256 * 1024


class JwksUnavailable(Exception):
    """No key is known yet and the auth service cannot be reached."""


JwksDocument = dict[str, Any]


def fetch_jwks(url: str, timeout: float) -> JwksDocument:
    headers = {"Accept": "application/json"}
    if has_request_context() and g.get("request_id"):
        # One request id across services: the auth service logs the same id as ours.
        headers["X-Request-ID"] = g.request_id
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        document = json.loads(response.read(MAX_JWKS_BYTES))
    if not isinstance(document, dict):
        raise ValueError("the JWKS is not a JSON object")
    return document


def parse_jwks(document: JwksDocument) -> dict[str, PyJWK]:
    keys: dict[str, PyJWK] = {}
    entries = document.get("keys")
    for entry in entries if isinstance(entries, list) else []:
        kid = entry.get("kid") if isinstance(entry, dict) else None
        kid = entry.get("kid")
        try:
            if isinstance(kid, str) and kid:
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
        max_age: float = 300.0,
        cache_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        fetch: Callable[[str, float], JwksDocument] = fetch_jwks,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.cooldown = cooldown
        self.max_age = max_age
        self.cache_file = cache_file
        self._clock = clock
        self._fetch = fetch
        self._keys: dict[str, PyJWK] = self._load_cache_file()
        self._last_attempt: float | None = None
        self._last_success: float | None = None
        self._lock = threading.Lock()

    def key_for(self, kid: str) -> PyJWK:
        key = self._keys.get(kid)
        if key is None or self._is_stale():
            with self._lock:
                key = self._keys.get(kid)
                if (key is None or self._is_stale()) and self._may_refetch():
                    self._refresh()
                    key = self._keys.get(kid)
        if key is not None:
            return key
        if not self._keys:
            raise JwksUnavailable("the auth service's public keys could not be fetched")
        raise UnknownSigningKey("the token was signed by an unknown key")

    def ensure_keys(self) -> bool:
        """Whether any key is known, fetching once (within the cooldown) if none is."""
        if not self._keys:
            with self._lock:
                if not self._keys and self._may_refetch():
                    self._refresh()
        return bool(self._keys)

    def _is_stale(self) -> bool:
        return self._last_success is None or self._clock() - self._last_success >= self.max_age

    def _may_refetch(self) -> bool:
        if self._last_attempt is None:
            return True
        # With no key at all nothing can be verified: retry sooner, but never in a tight loop.
        wait = min(self.cooldown, 1.0) if not self._keys else self.cooldown
        return self._clock() - self._last_attempt >= wait

    def _refresh(self) -> None:
        self._last_attempt = self._clock()
        try:
            document = self._fetch(self.url, self.timeout)
            keys = parse_jwks(document)
        except (OSError, ValueError) as error:  # URLError and JSON errors are among these
            # Keep the keys we have: the auth service being down must not stop verification.
            log.warning(
                "JWKS fetch failed", extra={"fields": {"url": self.url, "error": str(error)}}
            )
            if not self._keys:
                # Another worker may have fetched the keys before the auth service went away.
                self._keys = self._load_cache_file()
            return
        if keys:
            self._keys = keys
            self._last_success = self._clock()
            self._save_cache_file(document)

    def _load_cache_file(self) -> dict[str, PyJWK]:
        if self.cache_file is None or not self.cache_file.exists():
            return {}
        try:
            return parse_jwks(json.loads(self.cache_file.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            log.warning(
                "ignoring an unreadable JWKS cache file", extra={"fields": {"error": str(error)}}
            )
            return {}

    def _save_cache_file(self, document: JwksDocument) -> None:
        if self.cache_file is None:
            return
        # Write then rename: a reader (another worker) never sees half a file.
        temporary = self.cache_file.with_name(f".{self.cache_file.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(json.dumps(document), encoding="utf-8")
            os.replace(temporary, self.cache_file)
        except OSError as error:
            log.warning(
                "could not write the JWKS cache file", extra={"fields": {"error": str(error)}}
            )
