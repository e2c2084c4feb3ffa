"""Signing keys: Ed25519 key pairs kept as PEM files in one directory, published as a JWKS.

Rotation with no downtime, by the clock alone (no state beyond the files):

* a new key is *published* in the JWKS at once, but only *signs* once it is older than the
  activation delay, so every verifier has had the chance to fetch it first;
* an older key keeps being published until every token it could have signed has expired
  (the access-token lifetime and the verifiers' leeway after it stopped signing), then it is
  retired from the JWKS. Moving its file to ``retired/`` (``rotate``, ``prune``) waits for the
  longest lifetime and delay the settings allow, since the shell running the command need not
  share the service's settings.

A key's ``kid`` is its RFC 7638 thumbprint, so it never has to be stored or kept in sync.

Keys the service generates for itself on a first development start are named ``dev-*.pem``;
production refuses to start with one of those. The operator's commands over a key directory
(``generate``, ``rotate``, ``prune``, ``list``) are in :mod:`auth_service.key_commands`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"
DEV_PREFIX = "dev-"
KEY_PREFIX = "key-"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"


@dataclass(frozen=True)
class SigningKey:
    path: Path
    created_at: datetime
    kid: str
    private_pem: bytes
    public_pem: bytes
    public_jwk: dict[str, str]
    # Parsed once, as the files are read: every token is signed or verified with these.
    private_key: Ed25519PrivateKey = field(compare=False, repr=False)
    public_key: Ed25519PublicKey = field(compare=False, repr=False)

    @classmethod
    def from_file(cls, path: Path) -> SigningKey:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        raw_public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        # RFC 7638: members in lexicographic order, no white space.
        thumbprint_input = json.dumps(
            {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw_public)},
            separators=(",", ":"),
            sort_keys=True,
        )
        kid = _b64url(hashlib.sha256(thumbprint_input.encode()).digest())
        return cls(
            path=path,
            created_at=_created_at(path),
            kid=kid,
            private_pem=private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            public_pem=private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            public_jwk={
                "kty": "OKP",
                "crv": "Ed25519",
                "x": _b64url(raw_public),
                "kid": kid,
                "use": "sig",
                "alg": ALGORITHM,
            },
            private_key=private,
            public_key=private.public_key(),
        )

    @property
    def is_development_key(self) -> bool:
        return self.path.name.startswith(DEV_PREFIX)


def _created_at(path: Path) -> datetime:
    """File names carry their creation time after the prefix; other names count as old."""
    try:
        return datetime.strptime(path.stem.split("-", 1)[-1], STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def key_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(directory.glob("*.pem"), key=_created_at)


def generate_key(directory: Path, *, development: bool = False) -> Path:
    """Write a new private key (mode 0600) and return its path; it becomes the signing key."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime(STAMP_FORMAT)
    path = directory / f"{DEV_PREFIX if development else KEY_PREFIX}{stamp}.pem"
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return path


@dataclass(frozen=True)
class RotationPolicy:
    # How long a new key is only published before it signs (> verifiers' refetch delay).
    activation_delay: timedelta = timedelta(seconds=60)
    # How long an old key stays published after it stopped signing (>= access-token lifetime).
    retire_after: timedelta = timedelta(seconds=900 + 60)

    @classmethod
    def for_tokens(
        cls, *, activation_delay: int, access_token_ttl: int, leeway: int
    ) -> RotationPolicy:
        """The policy for these settings (in seconds): tokens signed just before a key stops
        signing live one access-token lifetime, and verifiers accept them for the leeway
        beyond it; a minute's margin covers clocks that disagree a little."""
        return cls(
            activation_delay=timedelta(seconds=activation_delay),
            retire_after=timedelta(seconds=access_token_ttl + leeway + 60),
        )


class KeyRing:
    def __init__(self, keys: list[SigningKey], policy: RotationPolicy | None = None) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self.keys = sorted(keys, key=lambda k: k.created_at)
        self.policy = policy or RotationPolicy()

    @classmethod
    def load(cls, directory: Path, policy: RotationPolicy | None = None) -> KeyRing:
        keys = [SigningKey.from_file(path) for path in key_files(directory)]
        if not keys:
            raise FileNotFoundError(f"no signing keys (*.pem) in {directory}")
        return cls(keys, policy)

    @classmethod
    def ensure(cls, directory: Path, policy: RotationPolicy | None = None) -> KeyRing:
        """Load the keys, generating a development key on the very first start."""
        if not key_files(directory):
            generate_key(directory, development=True)
        return cls.load(directory, policy)

    @staticmethod
    def production_problems(directory: Path) -> list[str]:
        files = key_files(directory)
        if not files:
            return [
                f"AUTH_KEYS_DIR={directory} holds no signing key: create one with "
                f"'python -m auth_service.key_commands generate --dir {directory}'."
            ]
        dev = [p.name for p in files if p.name.startswith(DEV_PREFIX)]
        if dev:
            return [
                f"AUTH_KEYS_DIR={directory} holds generated development keys ({', '.join(dev)}): "
                "remove them and create a production key with "
                f"'python -m auth_service.key_commands generate --dir {directory}'."
            ]
        return []

    def active_at(self, now: datetime) -> SigningKey:
        """The newest key old enough to sign (the oldest key when none is: the first key)."""
        ready = [k for k in self.keys if now - k.created_at >= self.policy.activation_delay]
        return ready[-1] if ready else self.keys[0]

    @property
    def active(self) -> SigningKey:
        return self.active_at(datetime.now(UTC))

    def published_at(self, now: datetime) -> list[SigningKey]:
        """Keys that verify: the active one, newer ones waiting to sign, and older ones until
        every token they signed has expired."""
        active = self.active_at(now)
        published = []
        for index, key in enumerate(self.keys):
            if key.created_at >= active.created_at:
                published.append(key)
                continue
            stopped_signing = self.keys[index + 1].created_at + self.policy.activation_delay
            if now - stopped_signing < self.policy.retire_after:
                published.append(key)
        return published

    def by_kid(self, kid: str) -> SigningKey | None:
        now = datetime.now(UTC)
        return next((key for key in self.published_at(now) if key.kid == kid), None)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        published = self.published_at(datetime.now(UTC))
        return {"keys": [key.public_jwk for key in reversed(published)]}

    def retired(self) -> list[SigningKey]:
        published = {k.kid for k in self.published_at(datetime.now(UTC))}
        return [k for k in self.keys if k.kid not in published]


class KeySource:
    """The key ring as the workers see it: re-read from the directory every few seconds, so a
    key added by ``rotate`` is picked up without a restart."""

    def __init__(self, directory: Path, policy: RotationPolicy, reload_seconds: float) -> None:
        self.directory = directory
        self.policy = policy
        self.reload_seconds = reload_seconds
        self._ring = KeyRing.load(directory, policy)
        self._loaded = time.monotonic()
        self._lock = threading.Lock()

    def ring(self) -> KeyRing:
        if time.monotonic() - self._loaded >= self.reload_seconds:
            with self._lock:
                if time.monotonic() - self._loaded >= self.reload_seconds:
                    # On a failed read keep serving with the keys we have; the next reload retries.
                    with contextlib.suppress(OSError, ValueError):
                        self._ring = KeyRing.load(self.directory, self.policy)
                    self._loaded = time.monotonic()
        return self._ring


def prune(directory: Path, policy: RotationPolicy) -> list[Path]:
    """Move retired keys to ``retired/`` (kept, never deleted, but no longer loaded)."""
    ring = KeyRing.load(directory, policy)
    moved = []
    target = directory / "retired"
    for key in ring.retired():
        target.mkdir(mode=0o700, exist_ok=True)
        moved.append(key.path.rename(target / key.path.name))
    return moved
