"""Login sessions and their rotating refresh tokens. No HTTP here.

A session is one login. Each refresh exchanges the presented refresh token for a new one (and a
new access token); the old one is marked used. Presenting a used token again means it was
copied: the whole session is revoked, the thief's copy and the owner's alike (reuse detection,
RFC 9700 4.14.2). One exception keeps honest clients working: within a short grace period the
immediate predecessor of the newest token may be presented again, because a client whose
response was lost retries with the token it still has.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from auth_service import revocations
from auth_service.models import LoginSession, RefreshToken, User
from common.clock import as_utc, utcnow
from common.db import Database
from common.errors import Unauthorized

TOKEN_BYTES = 32


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


@dataclass(frozen=True)
class Issued:
    user: User
    session_id: str
    refresh_token: str
    refresh_expires_at: datetime


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _new_refresh_token(
    db_session: Session,
    login: LoginSession,
    policy: SessionPolicy,
    now: datetime,
    parent: RefreshToken | None = None,
) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = min(now + policy.refresh_ttl, as_utc(login.expires_at))
    db_session.add(
        RefreshToken(
            session_id=login.id,
            token_hash=hash_token(token),
            parent_id=parent.id if parent else None,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token, expires_at


def start(db_session: Session, user: User, policy: SessionPolicy) -> Issued:
    """Open a session for a user who just proved who they are (login or registration)."""
    now = utcnow()
    login = LoginSession(
        id=uuid.uuid4().hex, user_id=user.id, created_at=now, expires_at=now + policy.max_age
    )
    db_session.add(login)
    db_session.flush()
    token, expires_at = _new_refresh_token(db_session, login, policy, now)
    return Issued(user, login.id, token, expires_at)


def revoke_session(db_session: Session, session_id: str, reason: str) -> None:
    ended = db_session.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .returning(LoginSession.id, LoginSession.user_id)
    ).all()
    revocations.revoke_session_tokens(db_session, ended, reason)


def revoke_user_sessions(
    db_session: Session, user_id: int, reason: str, *, keep: str | None = None
) -> None:
    """End the user's sessions (all, or all but ``keep``); their access tokens are refused
    too, by the Books Service as well (see :mod:`auth_service.revocations`)."""
    statement = update(LoginSession).where(
        LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)
    )
    if keep:
        statement = statement.where(LoginSession.id != keep)
    ended = db_session.execute(
        statement.values(revoked_at=utcnow(), revoked_reason=reason).returning(
            LoginSession.id, LoginSession.user_id
        )
    ).all()
    if keep:
        revocations.revoke_session_tokens(db_session, ended, reason)
    else:
        revocations.revoke_user_tokens(db_session, user_id, reason)


def rotate(db: Database, presented: str, policy: SessionPolicy) -> Issued:
    """Exchange a refresh token for a new one. Raises InvalidRefreshToken on any failure.

    Runs as one write transaction with the token's row locked, so two concurrent refreshes
    with the same token are decided one after the other.
    """
    revoked_for_reuse = False
    with db.transaction() as db_session:
        now = utcnow()
        token = db_session.scalars(
            select(RefreshToken)
            .where(RefreshToken.token_hash == hash_token(presented))
            .with_for_update()
        ).one_or_none()
        if token is None:
            raise InvalidRefreshToken()
        login = db_session.get_one(LoginSession, token.session_id, with_for_update=True)
        user = db_session.get_one(User, login.user_id)
        if login.revoked_at is not None or as_utc(login.expires_at) <= now:
            raise InvalidRefreshToken()
        # Disabling a user revokes their sessions in the same transaction, so this is only a
        # guard; a revocation written here would be rolled back by the raise anyway.
        if user.is_disabled:
            raise InvalidRefreshToken()
        if token.used_at is None:
            if as_utc(token.expires_at) <= now:
                raise InvalidRefreshToken()
            token.used_at = now
            new_token, expires_at = _new_refresh_token(db_session, login, policy, now, token)
            return Issued(user, login.id, new_token, expires_at)
        if _is_retry_of_lost_response(db_session, token, policy, now):
            # Retire the child the client never received and issue a fresh one in its place.
            db_session.execute(
                update(RefreshToken)
                .where(RefreshToken.parent_id == token.id, RefreshToken.used_at.is_(None))
                .values(used_at=now)
            )
            new_token, expires_at = _new_refresh_token(db_session, login, policy, now, token)
            return Issued(user, login.id, new_token, expires_at)
        revoke_session(db_session, login.id, "refresh token reused")
        revoked_for_reuse = True
    # Outside the block, so the revocation above is committed before we refuse.
    assert revoked_for_reuse
    raise InvalidRefreshToken("The refresh token was already used; the session is revoked.")


def _is_retry_of_lost_response(
    db_session: Session, token: RefreshToken, policy: SessionPolicy, now: datetime
) -> bool:
    """True when ``token`` was exchanged moments ago and what it was exchanged for (the newest
    token of the session) has not been used yet: the client most likely never received it."""
    if token.used_at is None or now - as_utc(token.used_at) > policy.reuse_grace:
        return False
    newest = db_session.scalars(
        select(RefreshToken)
        .where(RefreshToken.session_id == token.session_id)
        .order_by(RefreshToken.id.desc())
        .limit(1)
    ).one()
    return newest.parent_id == token.id and newest.used_at is None


def find_session(db_session: Session, session_id: str) -> LoginSession | None:
    return db_session.get(LoginSession, session_id)


def refresh_token_record(db_session: Session, presented: str) -> RefreshToken | None:
    return db_session.scalars(
        select(RefreshToken).where(RefreshToken.token_hash == hash_token(presented))
    ).one_or_none()
