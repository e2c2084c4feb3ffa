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

An entry matters only while a token it names can be unexpired. Every access token's expiry is
recorded, as it is issued, on its session (:func:`record_expiry`: the latest wins), so an
entry knows when the last token it names expires (a user's: the latest of their sessions').
It is listed, and kept, until then plus the largest leeway a verifier may grant and a margin
(:data:`GRACE`): about 20 minutes with the default 15-minute tokens, a day for tokens issued
under the longest lifetime the settings allow, whatever this replica's own lifetime is. Where
no expiry is known (an entry written by a replica older than migration auth_0005, a session no
token was recorded for), the longest lifetime the settings allow bounds it
(:data:`UNKNOWN_EXPIRY_WINDOW`); and while replicas of that older release may still have signed
tokens nobody recorded, every entry is listed at least until those have expired
(:data:`LEGACY_TOKENS_SETTING`).

Tokens carry their issue time (``iat``) in whole seconds, so a "not before" becomes the whole
second after it: every token issued until then, even within the same second, is refused. A
token issued in the rest of that second would be refused as well, so issuing waits for the
next second when the user was revoked within the last one (:func:`check_issuable`,
:func:`wait_until_issuable`), outside any transaction.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from auth_service.config import MAX_ACCESS_TOKEN_TTL
from auth_service.models import MAX_USER_ID, LoginSession, Setting, TokenRevocation, User
from common.clock import as_utc, utcnow
from common.config import MAX_JWT_LEEWAY
from common.prepared import Prepared
from common.revocation_list import RevocationList

# Entries outlive the tokens they name by this much beyond the verifiers' leeway: clocks are
# never quite together.
CLOCK_MARGIN = timedelta(minutes=2)
# How long an entry is published, and kept, after the last token it names has expired: the
# largest leeway a verifier may grant beyond ``exp``, and the margin.
GRACE = timedelta(seconds=MAX_JWT_LEEWAY) + CLOCK_MARGIN
# Where no expiry is recorded, the longest access-token lifetime the settings allow bounds it:
# so long after it was made is an entry without an expiry (written by a replica older than
# migration auth_0005) listed, and kept.
UNKNOWN_EXPIRY_WINDOW = timedelta(seconds=MAX_ACCESS_TOKEN_TTL) + GRACE
# Set by migration auth_0005 where an earlier release had issued tokens: until then, its
# replicas (which record no expiry) may have signed tokens that are still unexpired, so every
# entry is listed at least that long.
LEGACY_TOKENS_SETTING = "legacy_tokens_unexpired_until"
# The columns of an ended session that its revocation needs (UPDATE ... RETURNING them).
ENDED_SESSION = (LoginSession.id, LoginSession.user_id, LoginSession.access_tokens_expire_at)


class RevokedWithinTheSecond(Exception):
    """A token issued now would be born revoked: wait until ``not_before``'s next second."""

    def __init__(self, not_before: datetime) -> None:
        super().__init__("the user was revoked less than a second ago")
        self.not_before = not_before


def _second_after(moment: datetime) -> int:
    """The first whole second after ``moment``: the first ``iat`` a token issued after it can
    carry (a token issued at ``moment`` itself, or before, has an earlier one)."""
    return math.floor(as_utc(moment).timestamp()) + 1


_sessions = cast(Table, LoginSession.__table__)
_RECORD_EXPIRY = Prepared(
    update(_sessions)
    .where(_sessions.c.id == bindparam("b_session_id"))
    .values(access_tokens_expire_at=bindparam("b_expires_at"))
)


def record_expiry(
    connection: Connection,
    session_id: str,
    recorded: datetime | None,
    expires_at: datetime,
) -> None:
    """Note that an access token of session ``session_id`` (whose recorded expiry was
    ``recorded``), expiring at ``expires_at``, is being issued (in its issuing transaction,
    with its user's row locked: a revocation of the user locks it first, so it sees every
    token issued before it)."""
    # A token signed under a shorter lifetime than an earlier one expires sooner.
    if recorded is None or as_utc(recorded) < as_utc(expires_at):
        _RECORD_EXPIRY.run(connection, {"b_session_id": session_id, "b_expires_at": expires_at})


def _latest_expiry_of_user(db_session: Session, user_id: int) -> datetime | None:
    """When the last access token of this user expires; None if some session's is unknown."""
    latest, unknown = db_session.execute(
        select(
            func.max(LoginSession.access_tokens_expire_at),
            func.count() - func.count(LoginSession.access_tokens_expire_at),
        ).where(LoginSession.user_id == user_id)
    ).one()
    return None if unknown else latest


def _expiry_of_entries(db_session: Session, now: datetime) -> Callable[[datetime | None], datetime]:
    """When an entry made now, naming tokens that expire by a given time (None: unknown), may
    be dropped."""
    legacy = db_session.get(Setting, LEGACY_TOKENS_SETTING)
    legacy_until = as_utc(datetime.fromisoformat(legacy.value)) if legacy else None

    def listed_until(tokens_expire_at: datetime | None) -> datetime:
        if tokens_expire_at is None:  # recorded by nobody: bounded by the longest lifetime
            return now + UNKNOWN_EXPIRY_WINDOW
        until = as_utc(tokens_expire_at) + GRACE
        return until if legacy_until is None else max(until, legacy_until)

    return listed_until


def _still_listed(now: datetime) -> ColumnElement[bool]:
    return or_(
        TokenRevocation.expires_at >= now,
        and_(
            TokenRevocation.expires_at.is_(None),
            TokenRevocation.revoked_at >= now - UNKNOWN_EXPIRY_WINDOW,
        ),
    )


def _no_longer_listed(now: datetime) -> ColumnElement[bool]:
    # Not not_(_still_listed(now)): in SQL, NOT (NULL >= now OR false) is NULL, not true.
    return or_(
        TokenRevocation.expires_at < now,
        and_(
            TokenRevocation.expires_at.is_(None),
            TokenRevocation.revoked_at < now - UNKNOWN_EXPIRY_WINDOW,
        ),
    )


def _record(db_session: Session, entries: Iterable[TokenRevocation], now: datetime) -> None:
    # An entry whose tokens have all expired is not worth a row: it would never be listed.
    db_session.add_all(
        entry for entry in entries if entry.expires_at is None or entry.expires_at >= now
    )
    db_session.execute(delete(TokenRevocation).where(_no_longer_listed(now)))


def revoke_user_tokens(db_session: Session, user_id: int, reason: str) -> None:
    """Refuse every access token of this user issued until now, wherever it is checked."""
    now = utcnow()
    # The user's row first (issuing locks it too), then what their sessions recorded.
    db_session.execute(update(User).where(User.id == user_id).values(tokens_not_before=now))
    tokens_expire_at = _latest_expiry_of_user(db_session, user_id)
    entry = TokenRevocation(
        user_id=user_id,
        session_id=None,
        revoked_at=now,
        reason=reason,
        expires_at=_expiry_of_entries(db_session, now)(tokens_expire_at),
    )
    _record(db_session, [entry], now)


def revoke_session_tokens(
    db_session: Session, ended: Iterable[tuple[str, int, datetime | None]], reason: str
) -> None:
    """Refuse the access tokens of these sessions, just ended: ``(session id, user id, when
    its last access token expires)`` (the columns :data:`ENDED_SESSION`)."""
    now = utcnow()
    listed_until = _expiry_of_entries(db_session, now)
    _record(
        db_session,
        [
            TokenRevocation(
                user_id=user_id,
                session_id=sid,
                revoked_at=now,
                reason=reason,
                expires_at=listed_until(tokens_expire_at),
            )
            for sid, user_id, tokens_expire_at in ended
        ],
        now,
    )


def published(db_session: Session) -> RevocationList:
    """The revocation list: per user (``sub``) the first second its tokens may have been
    issued at (a token with an earlier ``iat`` is revoked), and the revoked ``sid``s. Only
    entries naming a token that may still be accepted somewhere."""
    now = utcnow()
    rows = db_session.execute(
        select(TokenRevocation.user_id, TokenRevocation.session_id, TokenRevocation.revoked_at)
        .where(_still_listed(now))
        .order_by(TokenRevocation.id)
    ).all()
    users: dict[str, int] = {}
    for user_id, session_id, revoked_at in rows:
        if session_id is None:
            users[str(user_id)] = max(users.get(str(user_id), 0), _second_after(revoked_at))
    # Every ended session is listed, even when a later "not before" of its user seems to cover
    # it: that holds only if every token of it was issued, by a clock that agrees, before it.
    sessions = sorted({session_id for _, session_id, _ in rows if session_id is not None})
    return RevocationList(
        issued_at=math.floor(now.timestamp()),
        grace=int(GRACE.total_seconds()),
        users=users,
        sessions=sessions,
    )


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
