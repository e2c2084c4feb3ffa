"""The revocation list's wire format, ``/.well-known/revocations.json``: one definition for the
Auth Service, which publishes it, and the Books Service, which reads it.

Tokens are verified with the public key alone, so a logout or a disabled user is invisible to a
verifier by itself; the list names what the Auth Service revoked among tokens that may still be
unexpired. :meth:`RevocationList.revokes` is what the list means; :func:`read_revocation_list`
is how a verifier takes a document it fetched: strict about its shape, lenient about one bad
entry among thousands (skipped, and counted, rather than losing every revocation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeGuard

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

PATH = "/.well-known/revocations.json"


class RevocationList(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "issued_at": 1767225600,
                    "grace": 180,
                    "users": {"7": 1767225000},
                    "sessions": ["8d1ecf653ac34b6aabac8e7c67dd86db"],
                }
            ]
        },
    )

    issued_at: int = Field(description="When this list was made (seconds since the epoch).")
    grace: int = Field(
        description="Seconds a revocation stays listed after the last access token it names "
        "has expired: the largest clock leeway a verifier may grant, and a margin. Until "
        "then it is listed, whatever lifetime the token was issued with."
    )
    users: dict[str, int] = Field(
        description="Per user (`sub`): the first `iat` still accepted; an access token of "
        "that user issued earlier is revoked."
    )
    sessions: list[str] = Field(description="Revoked sessions (`sid`): their tokens are revoked.")
    # Looked up for every request: a set, not a scan of up to some 200,000 session ids.
    _session_set: frozenset[str] = PrivateAttr(default=frozenset())

    def model_post_init(self, context: Any, /) -> None:
        self._session_set = frozenset(self.sessions)

    def revokes(self, claims: Mapping[str, Any]) -> bool:
        """Whether a token with these (verified) claims is revoked: issued before its user's
        first accepted ``iat`` (or without a usable ``iat``), or of a revoked session."""
        not_before = self.users.get(str(claims.get("sub")))
        if not_before is not None:
            issued_at = claims.get("iat")
            if not _is_number(issued_at) or issued_at < not_before:
                return True
        sid = claims.get("sid")
        return isinstance(sid, str) and sid in self._session_set

    def to_document(self) -> dict[str, Any]:
        """The JSON document, as published."""
        return self.model_dump()


EMPTY = RevocationList(issued_at=0, grace=0, users={}, sessions=[])


def _is_number(value: object) -> TypeGuard[int | float]:
    # JSON also allows NaN and Infinity: neither is a time.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def read_revocation_list(document: object) -> tuple[RevocationList, int]:
    """The list in a fetched ``document`` and how many malformed entries were skipped.

    Raises ValueError when ``document`` is not a revocation list at all (``users`` not an
    object, ``sessions`` not an array, ``issued_at`` not a number). ``issued_at`` and ``grace``
    may be missing (an older publisher): 0. A user's first accepted ``iat`` that is not a whole
    number is rounded up, which refuses exactly the same (integer) ``iat`` values."""
    if not isinstance(document, dict):
        raise ValueError("the revocation list is not a JSON object")
    users, sessions = document.get("users"), document.get("sessions")
    issued_at, grace = document.get("issued_at", 0), document.get("grace", 0)
    if not isinstance(users, dict) or not isinstance(sessions, list) or not _is_number(issued_at):
        raise ValueError("not a revocation list: 'users' must be an object, 'sessions' a list")
    good_users = {sub: math.ceil(nb) for sub, nb in users.items() if _is_number(nb)}
    good_sessions = sorted({sid for sid in sessions if isinstance(sid, str) and sid})
    skipped = len(users) - len(good_users) + len(sessions) - len(good_sessions)
    return (
        RevocationList(
            issued_at=int(issued_at),
            grace=int(grace) if _is_number(grace) else 0,
            users=good_users,
            sessions=good_sessions,
        ),
        skipped,
    )
