"""Where a password is checked: logging in and changing the password, throttled alike, in the
order that matters. Registering counts as a first login from that address."""

from __future__ import annotations

from auth_service import accounts, sessions, throttle, usernames
from auth_service.passwords import Hasher
from common.db import Database


def log_in(
    db: Database,
    hasher: Hasher,
    username: str,
    password: str,
    client: str,
    *,
    session_policy: sessions.SessionPolicy,
    throttle_policy: throttle.ThrottlePolicy,
    sign: sessions.AccessTokenSigner,
) -> sessions.Issued:
    # Blocked callers are turned away before any password work: cheap for us, slow for them.
    # Others are counted as failing until the password proves otherwise (no check-then-record
    # race for parallel guesses).
    attempt = throttle.begin(db, usernames.lookup_key(username), client, throttle_policy)
    user = accounts.check_password(db, hasher, username, password)
    # The right password is recorded in the transaction that opens the session (one commit
    # fewer); if the login fails after all (the account disabled or changed meanwhile), it is
    # recorded on its own: the password was right whatever came next.
    try:
        return accounts.log_in(
            db,
            hasher,
            user,
            password,
            session_policy,
            sign=sign,
            also=lambda session: throttle.record_success(session, attempt),
        )
    except Exception:
        throttle.succeeded(db, attempt)
        raise


def change_password(
    db: Database,
    hasher: Hasher,
    username: str,
    user_id: int,
    current: str,
    new: str,
    client: str,
    *,
    keep_session: str | None,
    throttle_policy: throttle.ThrottlePolicy,
) -> None:
    """Change a password; a wrong current password counts like a failed login (a stolen
    access token must not give unlimited guesses at the password)."""
    attempt = throttle.begin(db, usernames.lookup_key(username), client, throttle_policy)
    accounts.change_password(
        db,
        hasher,
        user_id,
        current,
        new,
        keep_session,
        also=lambda session: throttle.record_success(session, attempt),
    )


def register(
    db: Database,
    hasher: Hasher,
    username: str,
    password: str,
    client: str,
    session_policy: sessions.SessionPolicy,
    *,
    sign: sessions.AccessTokenSigner,
) -> sessions.Issued:
    issued = accounts.register(db, hasher, username, password, session_policy, sign=sign)
    throttle.remember_client(db, usernames.lookup_key(issued.user.username), client)
    return issued
