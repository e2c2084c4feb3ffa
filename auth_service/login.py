"""Logging in: throttling, password check and a new session, in the order that matters."""

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
) -> sessions.Issued:
    key = usernames.lookup_key(username)
    # Blocked callers are turned away before any password work: cheap for us, slow for them.
    throttle.check(db, key, client)
    try:
        user = accounts.check_password(db, hasher, username, password)
    except accounts.InvalidCredentials:
        throttle.record_failure(db, key, client, throttle_policy)
        raise
    throttle.record_success(db, key, client)
    return accounts.log_in(db, hasher, user, password, session_policy)
