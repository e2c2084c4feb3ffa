"""The Auth Service's tables. Only this service reads or writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.clock import utcnow
from common.db import service_metadata

Role = Literal["admin", "librarian", "reader"]
ROLES: tuple[Role, ...] = get_args(Role)
DEFAULT_ROLE: Role = "librarian"
# User ids are 32-bit integers: a larger number names nobody (and must not reach a query).
MAX_USER_ID = 2**31 - 1
# A skeleton is longer than its name: a character's is at most 7 (a Hangul syllable, in jamo).
SKELETON_LENGTH = 512


class AuthBase(DeclarativeBase):
    metadata = service_metadata()


class User(AuthBase):
    __tablename__ = "users"
    # Ids are never reused, on SQLite either: a deleted user's unexpired token names its id,
    # which must not become a stranger's.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    # NFKC + casefold of the name: what uniqueness is enforced on.
    username_key: Mapped[str] = mapped_column(String(255), unique=True)
    # TR39 confusable skeleton of the name (lookalikes.skeleton_key): names that read alike
    # share it, and a new name must not take one in use. Not unique: accounts older than that
    # rule may share one (``python -m auth_service.cli confusable-users`` lists them). Empty
    # only for accounts a replica older than migration auth_0006 registered mid-rollout.
    username_skeleton: Mapped[str | None] = mapped_column(String(SKELETON_LENGTH), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32), default=DEFAULT_ROLE)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A disabled user cannot log in or refresh; their tokens stop validating.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Access tokens of this user issued before this moment are refused (see revocations.py).
    tokens_not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def roles(self) -> list[str]:
        return [self.role]

    @property
    def is_disabled(self) -> bool:
        return self.disabled_at is not None


class LoginSession(AuthBase):
    """One login: the family of refresh tokens that descend from it.

    Revoking the session (logout, reuse detected, password change, user disabled) ends every
    refresh token in it and makes its access tokens fail validation.
    """

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The absolute cap: no refresh extends a session past this.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    # No access token of this session expires later (revocations.py: how long a revocation of
    # them must stay listed). Unknown (None) means "up to the longest lifetime allowed".
    access_tokens_expire_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RefreshToken(AuthBase):
    """A refresh token, stored only as its SHA-256 hash."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("refresh_tokens.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set when the token is exchanged for a new one; using it again after that is reuse.
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TokenRevocation(AuthBase):
    """A revocation the Books Service must learn of: it verifies access tokens on its own.

    Either a user's "not before" (``session_id`` empty) or one session's end. Kept without a
    foreign key, so a deleted user's entry outlives the user; pruned once no token it names
    can still be accepted: ``expires_at``, when the last of them expires plus the verifiers'
    leeway and a margin (revocations.GRACE). Written without one (by a replica older than
    migration auth_0005), it is kept for the longest lifetime a token may have had."""

    __tablename__ = "token_revocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    session_id: Mapped[str | None] = mapped_column(String(32))
    revoked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class LoginThrottle(AuthBase):
    """Failed-login counters, shared by every worker and replica through the database."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Setting(AuthBase):
    """Settings an administrator changes at run time (e.g. the default role of new users)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class KnownClient(AuthBase):
    """An address this account has logged in from: such a client is judged by its own
    failures only, so strangers cannot lock it out (see :mod:`auth_service.throttle`). Keyed by
    a keyed hash of the username and address: neither is stored."""

    __tablename__ = "known_clients"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class RateLimitCounter(AuthBase):
    """A fixed-window request counter of the rate limits, shared by every worker and replica
    when there is no Redis (see :mod:`auth_service.rate_limit_storage`)."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    # Seconds since the epoch, as the ``limits`` library counts them.
    expires_at: Mapped[float] = mapped_column(Float, index=True)
