"""The auth service's public keys, fetched over HTTP and cached per process and on disk.

A token names its key by ``kid``. A known kid is served from the cache; an unknown one triggers
one re-fetch (the auth service may have rotated its key), but at most once per cooldown, so a
flood of made-up kids cannot hammer the auth service. The cache is also refreshed when older
than ``max_age`` (so retired keys drop out), and every good answer is written to a file: after
a restart the service verifies tokens even while the auth service is down.

An unusable entry (not an object, no kid, not an Ed25519 signing key, a malformed key) is
skipped and logged; the other keys keep working. An answer that is not a JWKS at all, or has no
usable key, changes nothing: the last good keys stay.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import g, has_request_context
from jwt import PyJWK

from common.tokens import ALGORITHM, UnknownSigningKey

log = logging.getLogger("estante.jwks")
MAX_JWKS_BYTES = 256 * 1024


class JwksUnavailable(Exception):
    """No key is known yet and the auth service cannot be reached."""


JwksDocument = dict[str, Any]


def fetch_json(url: str, timeout: float, max_bytes: int = MAX_JWKS_BYTES) -> object:
    """GET a JSON document of at most ``max_bytes``. Raises on any failure."""
    headers = {"Accept": "application/json"}
    if has_request_context() and g.get("request_id"):
        # One request id across services: the auth service logs the same id as ours.
        headers["X-Request-ID"] = g.request_id
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        body = response.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise ValueError(f"the answer is larger than {max_bytes} bytes")
    return json.loads(body)


def fetch_jwks(url: str, timeout: float) -> JwksDocument:
    document = fetch_json(url, timeout)
    if not isinstance(document, dict):
        raise ValueError("the JWKS is not a JSON object")
    return document


def _usable_key(entry: object) -> tuple[str, PyJWK] | None:
    """The entry's kid and key, or None (logged) if it is not an Ed25519 signing key."""
    kid = entry.get("kid") if isinstance(entry, dict) else None
    if not isinstance(entry, dict) or not isinstance(kid, str) or not kid:
        log.warning("skipping a JWKS entry without a kid", extra={"fields": {"kid": kid}})
        return None
    if entry.get("alg", ALGORITHM) != ALGORITHM or entry.get("use", "sig") != "sig":
        log.warning("skipping a JWKS key not for EdDSA signatures", extra={"fields": {"kid": kid}})
        return None
    try:
        return kid, PyJWK(entry, algorithm=ALGORITHM)
    except Exception as error:  # whatever is wrong with one key, skip that key only
        log.warning(
            "skipping an unusable key in the JWKS",
            extra={"fields": {"kid": kid, "error": f"{type(error).__name__}: {error}"}},
        )
        return None


def parse_jwks(document: object) -> dict[str, PyJWK]:
    """The usable keys by kid. A bad entry is skipped; a document that is not a JWKS at all
    raises ValueError (the caller then keeps the keys it had)."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWKS: no list of keys")
    keys: dict[str, PyJWK] = {}
    for entry in entries:
        usable = _usable_key(entry)
        if usable is not None:
            keys[usable[0]] = usable[1]
    return keys


def read_json_file(path: Path | None) -> object | None:
    """A cache file's document, or None when there is none or it cannot be read."""
    if path is None or not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:
        log.warning(
            "ignoring an unreadable cache file",
            extra={"fields": {"path": str(path), "error": str(error)}},
        )
        return None


def write_json_file(path: Path | None, document: object) -> None:
    if path is None:
        return
    # Write then rename: a reader (another worker) never sees half a file. A random name, not
    # the process id: replicas in containers share the data volume and often the same pids.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        temporary.write_text(json.dumps(document), encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        log.warning(
            "could not write a cache file",
            extra={"fields": {"path": str(path), "error": str(error)}},
        )


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
            if not keys:
                raise ValueError("the JWKS holds no usable key")
        except Exception as error:  # a bad answer, whatever its kind, must never fail a request
            # Keep the keys we have: the auth service being down must not stop verification.
            log.warning(
                "JWKS fetch failed", extra={"fields": {"url": self.url, "error": str(error)}}
            )
            if not self._keys:
                # Another worker may have fetched the keys before the auth service went away.
                self._keys = self._load_cache_file()
            return
        self._keys = keys
        self._last_success = self._clock()
        write_json_file(self.cache_file, document)

    def _load_cache_file(self) -> dict[str, PyJWK]:
        document = read_json_file(self.cache_file)
        if document is None:
            return {}
        try:
            return parse_jwks(document)
        except ValueError as error:
            log.warning("ignoring the JWKS cache file", extra={"fields": {"error": str(error)}})
            return {}
