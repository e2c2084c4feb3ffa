"""Revoked access tokens that have not expired yet. No HTTP here.

The Books Service verifies access tokens with the public key alone, so it cannot see a logout
or a disabled user by itself. Every revocation is therefore recorded here, in the same
transaction as the change, and published (``/.well-known/revocations.json``) for it to fetch:

* per user a "not before" time: every access token of the user issued before it is refused
  (disabled, deleted, role changed, logged out everywhere, promoted or password reset by the
  CLI);
* per session (the token's ``sid`` claim) the sessions that ended on their own (logout,
  RFC 7009 revocation, refresh-token reuse, the other sessions on a password change).

An entry matters only while a token it names can be unexpired, so the published list covers
one access-token lifetime and the table is pruned after the longest lifetime allowed.

Tokens carry their issue time (``iat``) in whole seconds, so a "not before" is rounded up to
the next whole second: every token issued before it, even within the same second, is refused.
A token issued in the rest of that second would be refused as well, so issuing waits for the
next second when the user was revoked within the last one (:func:`wait_until_issuable`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from auth_service.models import TokenRevocation, User
from common.clock import as_utc, utcnow

# The longest access-token lifetime ACCESS_TOKEN_TTL_SECONDS allows, plus a margin: an entry
# older than this can name no unexpired token, whatever the setting was when it was written.
RETENTION = timedelta(days=1, minutes=5)
# Published entries outlive the tokens they name by this much: verifiers accept a token a
# little past its expiry (their clock leeway) and clocks are never quite together.
CLOCK_MARGIN = timedelta(minutes=2)


def _second_after(moment: datetime) -> int:
    return math.ceil(as_utc(moment).timestamp())


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


def published(db_session: Session, access_token_ttl: timedelta) -> dict[str, Any]:
    """The revocation list: ``users`` maps a ``sub`` to the first second its tokens may have
    been issued at (a token with an earlier ``iat`` is revoked); ``sessions`` lists revoked
    ``sid``s."""
    now = utcnow()
    rows = db_session.execute(
        select(TokenRevocation.user_id, TokenRevocation.session_id, TokenRevocation.revoked_at)
        .where(TokenRevocation.revoked_at >= now - access_token_ttl - CLOCK_MARGIN)
        .order_by(TokenRevocation.id)
    ).all()
    users: dict[str, int] = {}
    for user_id, session_id, revoked_at in rows:
        if session_id is None:
            users[str(user_id)] = max(users.get(str(user_id), 0), _second_after(revoked_at))
    # A session's tokens were all issued by the time it ended: a later "not before" of its
    # user covers them, and listing the session too would only make the list longer.
    sessions = sorted(
        {
            session_id
            for user_id, session_id, revoked_at in rows
            if session_id is not None
            and users.get(str(user_id), 0) <= math.floor(as_utc(revoked_at).timestamp())
        }
    )
    return {
        "issued_at": math.floor(now.timestamp()),
        "window": int((access_token_ttl + CLOCK_MARGIN).total_seconds()),
        "users": users,
        "sessions": sessions,
    }


def issued_too_early(user: User, issued_at: object) -> bool:
    """Whether an access token of ``user`` with this ``iat`` claim is revoked."""
    if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
        return True
    if user.tokens_not_before is None:
        return False
    return issued_at < _second_after(user.tokens_not_before)


def wait_until_issuable(user: User) -> None:
    """Make sure a token issued now is not born revoked: right after a revocation of this user
    (less than a second ago), wait for the next whole second."""
    if user.tokens_not_before is None:
        return
    delay = _second_after(user.tokens_not_before) - utcnow().timestamp()
    if 0 < delay <= 1:
        time.sleep(delay + 0.001)
