"""Revoked access tokens that have not expired yet. No HTTP here.

The Books Service verifies access tokens with the public key alone, so it cannot see a logout
or a disabled user by itself. Every revocation is therefore recorded here, in the same
transaction as the change, and published (``/.well-known/revocations.json``) for it to fetch:

* per user a "not before" time: every access token of the user issued before it is refused
  (disabled, deleted, role changed, logged out everywhere, promoted or password reset by the
  CLI);
* per session (the token's ``sid`` claim) every session that ended (logout, RFC 7009
  revocation, refresh-token reuse, the other sessions on a password change, and each session a
  user-wide revocation ended).

A change that ends sessions records each of them, even when it also records the user's "not
before" (logout everywhere, disabled, promoted, deleted): a verifier then refuses those
sessions' tokens whatever their ``iat`` says, so neither a token signed a moment late nor a
replica's clock running ahead lets one through.

An entry matters only while a token it names can be unexpired: the list covers, and the table
keeps, the longest access-token lifetime the settings allow (a day) plus the largest leeway and
a margin (:data:`WINDOW`), whatever this replica's own lifetime is.

Tokens carry their issue time (``iat``) in whole seconds, so a "not before" becomes the whole
second after it: every token issued until then, even within the same second, is refused. A
token issued in the rest of that second would be refused as well, so issuing waits for the
next second when the user was revoked within the last one (:func:`check_issuable`,
:func:`wait_until_issuable`), outside any transaction.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from auth_service.config import MAX_ACCESS_TOKEN_TTL
from auth_service.models import MAX_USER_ID, LoginSession, TokenRevocation, User
from common.clock import as_utc, utcnow
from common.config import MAX_JWT_LEEWAY

# Entries outlive the tokens they name by this much beyond the verifiers' leeway: clocks are
# never quite together.
CLOCK_MARGIN = timedelta(minutes=2)
# How long an entry is published, and kept: the longest access-token lifetime the settings
# allow, the largest leeway a verifier may grant beyond it, and the margin. Not this replica's
# ACCESS_TOKEN_TTL_SECONDS: a token may have been signed under a longer one (before the setting
# was lowered, or by a replica configured otherwise), and an entry that dropped out of the list
# before such a token expired would let it through again. Key retirement reasons the same way.
WINDOW = timedelta(seconds=MAX_ACCESS_TOKEN_TTL + MAX_JWT_LEEWAY) + CLOCK_MARGIN
RETENTION = WINDOW


class RevokedWithinTheSecond(Exception):
    """A token issued now would be born revoked: wait until ``not_before``'s next second."""

    def __init__(self, not_before: datetime) -> None:
        super().__init__("the user was revoked less than a second ago")
        self.not_before = not_before


def _second_after(moment: datetime) -> int:
    """The first whole second after ``moment``: the first ``iat`` a token issued after it can
    carry (a token issued at ``moment`` itself, or before, has an earlier one)."""
    return math.floor(as_utc(moment).timestamp()) + 1


def _record(db_session: Session, entries: Iterable[TokenRevocation], now: datetime) -> None:
    db_session.add_all(entries)
    db_session.execute(delete(TokenRevocation).where(TokenRevocation.revoked_at < now - RETENTION))


def revoke_user_tokens(db_session: Session, user_id: int, reason: str) -> None:
    """Refuse every access token of this user issued until now, wherever it is checked."""
    now = utcnow()
    db_session.execute(update(User).where(User.id == user_id).values(tokens_not_before=now))
    _record(
        db_session,
        [TokenRevocation(user_id=user_id, session_id=None, revoked_at=now, reason=reason)],
        now,
    )


def revoke_session_tokens(
    db_session: Session, ended: Iterable[tuple[str, int]], reason: str
) -> None:
    """Refuse the access tokens of these ``(session id, user id)`` sessions, just ended."""
    now = utcnow()
    _record(
        db_session,
        [
            TokenRevocation(user_id=user_id, session_id=sid, revoked_at=now, reason=reason)
            for sid, user_id in ended
        ],
        now,
    )


def published(db_session: Session) -> dict[str, Any]:
    """The revocation list: ``users`` maps a ``sub`` to the first second its tokens may have
    been issued at (a token with an earlier ``iat`` is revoked); ``sessions`` lists revoked
    ``sid``s."""
    now = utcnow()
    rows = db_session.execute(
        select(TokenRevocation.user_id, TokenRevocation.session_id, TokenRevocation.revoked_at)
        .where(TokenRevocation.revoked_at >= now - WINDOW)
        .order_by(TokenRevocation.id)
    ).all()
    users: dict[str, int] = {}
    for user_id, session_id, revoked_at in rows:
        if session_id is None:
            users[str(user_id)] = max(users.get(str(user_id), 0), _second_after(revoked_at))
    # Every ended session is listed, even when a later "not before" of its user seems to cover
    # it: that holds only if every token of it was issued, by a clock that agrees, before it.
    sessions = sorted({session_id for _, session_id, _ in rows if session_id is not None})
    return {
        "issued_at": math.floor(now.timestamp()),
        "window": int(WINDOW.total_seconds()),
        "users": users,
        "sessions": sessions,
    }


def issued_too_early(user: User, issued_at: int) -> bool:
    """Whether an access token of ``user`` with this ``iat`` claim is revoked."""
    if user.tokens_not_before is None:
        return False
    return issued_at < _second_after(user.tokens_not_before)


def live_user(db_session: Session, claims: Mapping[str, Any]) -> User | None:
    """The user of an access token, if the token is still live; None if it is revoked: its
    user deleted or disabled, issued before the user's "not before", or its session ended or
    not one of this user's. Sessions are never deleted but with their user, so a ``sid`` that
    names none is a deleted user's token whose ``sub`` was given out again (migration
    auth_0003 could, once, on SQLite): it must not reach the new owner of the id.

    The one check of every place the Auth Service accepts an access token (``/me`` and the
    other protected endpoints, ``/validate``, ``/introspect``, ``/revoke``). ``claims`` come
    from a verified token, so :func:`common.tokens.check_claims` vouches for their form:
    ``sub`` is a string of digits, ``iat`` an integer, ``sid`` (if there) a short string."""
    user_id = int(claims["sub"])
    user = db_session.get(User, user_id) if 1 <= user_id <= MAX_USER_ID else None
    if user is None or user.is_disabled or issued_too_early(user, claims["iat"]):
        return None
    session_id = claims.get("sid")
    if session_id is not None:
        login = db_session.get(LoginSession, session_id)
        if login is None or login.user_id != user.id or login.revoked_at is not None:
            return None
    return user


def _wait_needed(not_before: datetime | None) -> float:
    """Seconds until a token issued now is not born revoked by ``not_before``. Only within the
    second after a revocation: a "not before" further ahead is another replica's clock running
    ahead, which waiting here would not mend (docs/security.md: clocks must agree)."""
    if not_before is None:
        return 0
    delay = _second_after(not_before) - utcnow().timestamp()
    return delay if 0 < delay <= 1 else 0


def check_issuable(user: User) -> None:
    """Raise RevokedWithinTheSecond if a token of ``user`` issued now would be born revoked.
    Called with the user's row locked, in the issuing transaction, which must then be rolled
    back and tried again after :func:`wait_until_issuable` (never wait holding the lock)."""
    if user.tokens_not_before is not None and _wait_needed(user.tokens_not_before):
        raise RevokedWithinTheSecond(user.tokens_not_before)


def wait_until_issuable(not_before: datetime | None) -> None:
    """Right after a revocation (less than a second ago), wait for the next whole second.
    Outside any transaction."""
    delay = _wait_needed(not_before)
    if delay:
        time.sleep(delay + 0.001)
