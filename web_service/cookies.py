"""The one cookie that says who a browser is: an opaque random session id, signed.

The id alone means nothing; the server keeps, under its SHA-256, what the session holds
(user, tokens). The signature (HMAC under the installation's secret) makes a tampered cookie
or one from another installation worthless: it is simply no session."""

from __future__ import annotations

import hashlib
import secrets

from itsdangerous import BadSignature, Signer

COOKIE_NAME = "estante_session"
LOCALE_COOKIE = "estante_locale"
_SALT = "estante-web-session"
_ID_BYTES = 32


# An anonymous visitor's id says so: the server has nothing stored under it and need not look.
ANONYMOUS_PREFIX = "a."
USER_PREFIX = "u."


def new_session_id(*, logged_in: bool = False) -> str:
    return (USER_PREFIX if logged_in else ANONYMOUS_PREFIX) + secrets.token_urlsafe(_ID_BYTES)


def is_anonymous(session_id: str) -> bool:
    return session_id.startswith(ANONYMOUS_PREFIX)


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class CookieSigner:
    def __init__(self, secret: bytes) -> None:
        self._signer = Signer(secret, salt=_SALT, digest_method=hashlib.sha256)

    def sign(self, session_id: str) -> str:
        return self._signer.sign(session_id).decode()

    def unsign(self, value: str | None) -> str | None:
        """The session id in a cookie value, or None when it is missing, forged or foreign."""
        if not value or len(value) > 200:
            return None
        try:
            session_id = self._signer.unsign(value).decode()
        except (BadSignature, UnicodeDecodeError):
            return None
        return session_id if 20 <= len(session_id) <= 100 else None
