"""Signing keys: Ed25519 key pairs kept as PEM files in one directory, published as a JWKS.

The newest key signs; every key in the directory is published, so a token signed by an older
key keeps verifying while it lives (that is what key rotation builds on). A key's ``kid`` is its
RFC 7638 thumbprint, so it never has to be stored or kept in sync.

Keys the service generates for itself on a first development start are named ``dev-*.pem``;
production refuses to start with one of those.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ALGORITHM = "EdDSA"
DEV_PREFIX = "dev-"
KEY_PREFIX = "key-"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    path: Path
    kid: str
    private_pem: bytes
    public_pem: bytes
    public_jwk: dict[str, str]

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
        )

    @property
    def is_development_key(self) -> bool:
        return self.path.name.startswith(DEV_PREFIX)


def _created_order(path: Path) -> str:
    # File names carry their creation time after the prefix: the newest sorts last.
    return path.stem.split("-", 1)[-1]


def key_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(directory.glob("*.pem"), key=_created_order)


def generate_key(directory: Path, *, development: bool = False) -> Path:
    """Write a new private key (mode 0600) and return its path; it becomes the signing key."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{DEV_PREFIX if development else KEY_PREFIX}{stamp}.pem"
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return path


class KeyRing:
    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self.keys = keys

    @classmethod
    def load(cls, directory: Path) -> KeyRing:
        keys = [SigningKey.from_file(path) for path in key_files(directory)]
        if not keys:
            raise FileNotFoundError(f"no signing keys (*.pem) in {directory}")
        return cls(keys)

    @classmethod
    def ensure(cls, directory: Path) -> KeyRing:
        """Load the keys, generating a development key on the very first start."""
        if not key_files(directory):
            generate_key(directory, development=True)
        return cls.load(directory)

    @staticmethod
    def production_problems(directory: Path) -> list[str]:
        files = key_files(directory)
        if not files:
            return [
                f"AUTH_KEYS_DIR={directory} holds no signing key: create one with "
                f"'python -m auth_service.keys generate --dir {directory}'."
            ]
        dev = [p.name for p in files if p.name.startswith(DEV_PREFIX)]
        if dev:
            return [
                f"AUTH_KEYS_DIR={directory} holds generated development keys ({', '.join(dev)}): "
                "remove them and create a production key with "
                f"'python -m auth_service.keys generate --dir {directory}'."
            ]
        return []

    @property
    def active(self) -> SigningKey:
        return self.keys[-1]

    def by_kid(self, kid: str) -> SigningKey | None:
        return next((key for key in self.keys if key.kid == kid), None)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.public_jwk for key in reversed(self.keys)]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m auth_service.keys")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="create a new signing key; new tokens use it")
    gen.add_argument("--dir", type=Path, required=True, help="the AUTH_KEYS_DIR directory")
    lst = sub.add_parser("list", help="list the keys and their kids, newest last")
    lst.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "generate":
        path = generate_key(args.dir)
        print(f"created {path} (kid {SigningKey.from_file(path).kid})")
    else:
        for key in KeyRing.load(args.dir).keys:
            print(f"{key.path.name}\t{key.kid}")


if __name__ == "__main__":
    main()
