"""Login sessions and their rotating refresh tokens. No HTTP here.

A session is one login. Each refresh exchanges the presented refresh token for a new one (and a
new access token); the old one is marked used. Presenting a used token again means it was
copied: the whole session is revoked, the thief's copy and the owner's alike (reuse detection,
RFC 9700 4.14.2). One exception keeps honest clients working: within a short grace period the
immediate predecessor of the newest token may be presented again, because a client whose
response was lost retries with the token it still has.

Access tokens are signed inside the transaction that opens or continues their session, with
the user's row locked (:func:`issuing`). Every change that revokes a user's tokens locks that
row first, so it comes either wholly before (the token is issued under it: not born revoked,
see :func:`auth_service.revocations.check_issuable`) or wholly after (its revocation covers the
token: the session is recorded as ended, the token's ``iat`` is before the user's "not
before"). No token is signed after the revocation that should cover it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from auth_service import revocations
from auth_service.models import LoginSession, RefreshToken, User
from common.clock import as_utc, utcnow
from common.db import Database
from common.errors import ServiceUnavailable, Unauthorized
from common.prepared import Prepared

TOKEN_BYTES = 32
# How many times issuing is tried when each try finds its user revoked within the last second.
ISSUE_ATTEMPTS = 3

T = TypeVar("T")
S = TypeVar("S", Session, Connection)


class InvalidRefreshToken(Unauthorized):
    type = "/problems/invalid-refresh-token"
    title = "Invalid refresh token"

    def __init__(self, detail: str = "The refresh token is invalid, expired or revoked.") -> None:
        super().__init__(detail)


@dataclass(frozen=True)
class SessionPolicy:
    refresh_ttl: timedelta
    max_age: timedelta
    reuse_grace: timedelta


class RevokedJustNow(ServiceUnavailable):
    """Issuing kept finding its user revoked within the last second (a token issued then would
    be born revoked): rare, and over in a second."""

    type = "/problems/revoked-just-now"
    title = "Revoked just now"

    def __init__(self) -> None:
        super().__init__(
            "This account's tokens were revoked a moment ago; try again in a second.",
            headers={"Retry-After": "1"},
        )


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime  # its exp claim


# Signs the access token of (user, session id). Called inside the issuing transaction.
AccessTokenSigner = Callable[[User, str], AccessToken]


@dataclass(frozen=True)
class Issued:
    user: User
    session_id: str
    refresh_token: str
    refresh_expires_at: datetime
    access_token: str


def issuing(
    db: Database,
    attempt: Callable[[S], T],
    *,
    not_before: datetime | None = None,
    write: Callable[[Callable[[S], T]], T] | None = None,
) -> T:
    """Run ``attempt`` (it opens or continues a session, and signs its access token with the
    user's row locked) in a write transaction, and return what it returns.

    A user revoked within the last second cannot be issued a token yet (its ``iat`` would fall
    before the "not before"): the attempt then raises, its transaction is rolled back, and it
    is tried again once that second has passed. Every wait is outside any transaction (on
    SQLite a write transaction holds the whole database). ``not_before``, the user's as read
    before (if known), lets the first try wait up front. ``write`` runs the attempt in a write
    transaction and returns its result (by default in an ORM session's,
    :meth:`Database.transaction`; a Core attempt goes to :meth:`Database.write`, where on
    SQLite it may share the transaction, in a savepoint of its own, with the writes queued
    with it)."""
    revocations.wait_until_issuable(not_before)
    run = write or cast(Callable[[Callable[[S], T]], T], partial(_in_session, db))
    for tries_left in reversed(range(ISSUE_ATTEMPTS)):
        try:
            return run(attempt)
        except revocations.RevokedWithinTheSecond as revoked:
            if not tries_left:
                raise RevokedJustNow() from None
            revocations.wait_until_issuable(revoked.not_before)
    raise AssertionError("unreachable")


def _in_session(db: Database, attempt: Callable[[Session], T]) -> T:
    with db.transaction() as db_session:
        return attempt(db_session)


def _issue(
    connection: Connection,
    user: User,
    session_id: str,
    recorded_expiry: datetime | None,
    refresh_token: tuple[str, datetime],
    sign: AccessTokenSigner,
) -> Issued:
    """The tokens of a session, in the transaction that holds ``user``'s row locked. The
    access token's expiry is recorded on the session in that transaction, so a revocation,
    which locks the user's row first, knows how long it must stay listed."""
    revocations.check_issuable(user)
    token, expires_at = refresh_token
    access = sign(user, session_id)
    revocations.record_expiry(connection, session_id, recorded_expiry, access.expires_at)
    return Issued(user, session_id, token, expires_at, access.token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


_users = cast(Table, User.__table__)
_sessions = cast(Table, LoginSession.__table__)
_tokens = cast(Table, RefreshToken.__table__)
# The statements of issuing run on the driver's cursor (:mod:`common.prepared`): a refresh is
# little else, and SQLAlchemy's execution of each cost more than SQLite's.
_INSERT_TOKEN = Prepared(insert(_tokens))
_INSERT_SESSION = Prepared(insert(_sessions))


def _new_refresh_token(
    connection: Connection,
    session_id: str,
    session_expires_at: datetime,
    policy: SessionPolicy,
    now: datetime,
    parent_id: int | None = None,
) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = min(now + policy.refresh_ttl, as_utc(session_expires_at))
    _INSERT_TOKEN.run(
        connection,
        {
            "session_id": session_id,
            "token_hash": hash_token(token),
            "parent_id": parent_id,
            "created_at": now,
            "expires_at": expires_at,
        },
    )
    return token, expires_at


def start(
    db_session: Session, user: User, policy: SessionPolicy, sign: AccessTokenSigner
) -> Issued:
    """Open a session for a user who just proved who they are (login or registration), with
    the user's row locked (or just inserted); run it through :func:`issuing`. The session is
    inserted with its access token's expiry already recorded (see :func:`_issue`)."""
    db_session.flush()  # the user, if just added or changed, before the session refers to it
    revocations.check_issuable(user)
    now = utcnow()
    session_id = uuid.uuid4().hex
    expires_at = now + policy.max_age
    access = sign(user, session_id)
    connection = db_session.connection()
    _INSERT_SESSION.run(
        connection,
        {
            "id": session_id,
            "user_id": user.id,
            "created_at": now,
            "expires_at": expires_at,
            "access_tokens_expire_at": access.expires_at,
        },
    )
    token, refresh_expires_at = _new_refresh_token(connection, session_id, expires_at, policy, now)
    return Issued(user, session_id, token, refresh_expires_at, access.token)


def revoke_session(db_session: Session, session_id: str, reason: str) -> None:
    ended = db_session.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .returning(*revocations.ENDED_SESSION)
    ).all()
    revocations.revoke_session_tokens(db_session, ended, reason)


def end_session_of(db_session: Session, refresh_token: str, reason: str) -> None:
    """End the session this refresh token belongs to, whatever the token's state (current,
    spent by a rotation, expired): what ``/logout`` and ``/revoke`` do with one. An unknown
    token ends nothing."""
    record = refresh_token_record(db_session, refresh_token)
    if record is not None:
        revoke_session(db_session, record.session_id, reason)


def revoke_user_sessions(
    db_session: Session, user_id: int, reason: str, *, keep: str | None = None
) -> None:
    """End the user's sessions (all, or all but ``keep``); their access tokens are refused
    too, by the Books Service as well (see :mod:`auth_service.revocations`): every session
    ended is recorded, and when all end, so is the user's "not before"."""
    # The user's row first, as issuing locks it: a login or refresh of this user either
    # committed before (its session is ended here) or waits for this transaction.
    db_session.execute(select(User.id).where(User.id == user_id).with_for_update())
    statement = update(LoginSession).where(
        LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)
    )
    if keep:
        statement = statement.where(LoginSession.id != keep)
    ended = db_session.execute(
        statement.values(revoked_at=utcnow(), revoked_reason=reason).returning(
            *revocations.ENDED_SESSION
        )
    ).all()
    revocations.revoke_session_tokens(db_session, ended, reason)
    if not keep:
        revocations.revoke_user_tokens(db_session, user_id, reason)


def rotate(
    db: Database, presented: str, policy: SessionPolicy, *, sign: AccessTokenSigner
) -> Issued:
    """Exchange a refresh token for a new one and a new access token. Raises
    InvalidRefreshToken on any failure.

    One write transaction with the user's, the session's and the token's rows locked, in that
    order (the order every writer takes them): two concurrent refreshes with the same token are
    decided one after the other, and a revocation of the user either precedes the refresh or
    covers the access token it signs.
    """
    hashed = hash_token(presented)
    issued = issuing(
        db, lambda connection: _rotate(connection, hashed, policy, sign), write=db.write
    )
    if issued is None:  # the reuse was detected and the session revoked (committed)
        raise InvalidRefreshToken("The refresh token was already used; the session is revoked.")
    return issued


# Everything a rotation decides on, in one statement, with the rows locked in the order every
# writer takes them: the user's, the session's, then the token's (FOR UPDATE OF locks each
# joined row in the order the tables are named).
_ROTATION_ROWS = Prepared(
    select(
        _users.c.id.label("user_id"),
        _users.c.username,
        _users.c.role,
        _users.c.disabled_at,
        _users.c.tokens_not_before,
        _sessions.c.id.label("session_id"),
        _sessions.c.expires_at.label("session_expires_at"),
        _sessions.c.revoked_at,
        _sessions.c.access_tokens_expire_at,
        _tokens.c.id.label("token_id"),
        _tokens.c.expires_at,
        _tokens.c.used_at,
    )
    .select_from(
        _tokens.join(_sessions, _sessions.c.id == _tokens.c.session_id).join(
            _users, _users.c.id == _sessions.c.user_id
        )
    )
    .where(_tokens.c.token_hash == bindparam("b_hash"))
    .with_for_update(of=[_users, _sessions, _tokens])
)
_MARK_USED = Prepared(
    update(_tokens)
    .where(_tokens.c.id == bindparam("b_token_id"))
    .values(used_at=bindparam("b_now"))
)
_RETIRE_UNUSED_CHILDREN = Prepared(
    update(_tokens)
    .where(_tokens.c.parent_id == bindparam("b_token_id"), _tokens.c.used_at.is_(None))
    .values(used_at=bindparam("b_now"))
)
_NEWEST_TOKEN = Prepared(
    select(_tokens.c.parent_id, _tokens.c.used_at)
    .where(_tokens.c.session_id == bindparam("b_session_id"))
    .order_by(_tokens.c.id.desc())
    .limit(1)
)


def _rotate(
    connection: Connection, hashed: str, policy: SessionPolicy, sign: AccessTokenSigner
) -> Issued | None:
    now = utcnow()
    row = _ROTATION_ROWS.first(connection, {"b_hash": hashed})
    if row is None:
        raise InvalidRefreshToken()
    if row["revoked_at"] is not None or as_utc(row["session_expires_at"]) <= now:
        raise InvalidRefreshToken()
    # Disabling a user revokes their sessions in the same transaction, so this is only a
    # guard; a revocation written here would be rolled back by the raise anyway.
    if row["disabled_at"] is not None:
        raise InvalidRefreshToken()
    # A copy of the locked row for the signer, never added to the session.
    user = User(
        id=row["user_id"],
        username=row["username"],
        role=row["role"],
        disabled_at=row["disabled_at"],
        tokens_not_before=row["tokens_not_before"],
    )
    if row["used_at"] is None:
        if as_utc(row["expires_at"]) <= now:
            raise InvalidRefreshToken()
        _MARK_USED.run(connection, {"b_token_id": row["token_id"], "b_now": now})
    elif _is_retry_of_lost_response(connection, row, policy, now):
        # Retire the child the client never received and issue a fresh one in its place.
        _RETIRE_UNUSED_CHILDREN.run(connection, {"b_token_id": row["token_id"], "b_now": now})
    else:
        # Committed before the caller refuses: the session stays revoked. (Rare: an ORM
        # session joins the transaction for the revocation's bookkeeping, flushed into it.)
        with Session(bind=connection) as db_session:
            revoke_session(db_session, row["session_id"], "refresh token reused")
            db_session.flush()
        return None
    successor = _new_refresh_token(
        connection, row["session_id"], row["session_expires_at"], policy, now, row["token_id"]
    )
    return _issue(
        connection, user, row["session_id"], row["access_tokens_expire_at"], successor, sign
    )


def _is_retry_of_lost_response(
    connection: Connection, token: dict[str, Any], policy: SessionPolicy, now: datetime
) -> bool:
    """True when ``token`` was exchanged moments ago and what it was exchanged for (the newest
    token of the session) has not been used yet: the client most likely never received it."""
    if token["used_at"] is None or now - as_utc(token["used_at"]) > policy.reuse_grace:
        return False
    newest = _NEWEST_TOKEN.first(connection, {"b_session_id": token["session_id"]})
    assert newest is not None  # the session has this very token at least
    return bool(newest["parent_id"] == token["token_id"] and newest["used_at"] is None)


def find_session(db_session: Session, session_id: str) -> LoginSession | None:
    return db_session.get(LoginSession, session_id)


def refresh_token_record(db_session: Session, presented: str) -> RefreshToken | None:
    return db_session.scalars(
        select(RefreshToken).where(RefreshToken.token_hash == hash_token(presented))
    ).one_or_none()
