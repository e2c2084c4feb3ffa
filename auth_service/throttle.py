"""Login throttling: progressive delays after failed logins, shared through the database.

Two counters are kept, each keyed by a hash (no usernames or addresses stored in clear):

* the pair (username, client address): a guesser is slowed down on the account they attack;
* the client address alone, with four times the allowance: one address guessing many names.

After ``free_attempts`` failures a key is blocked for 1 s, then 2, 4, 8 … up to ``max_delay``;
failures older than ``window`` are forgotten. There is deliberately no per-username lock: a
stranger who fails on your name from their address blocks only themselves, never you.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from auth_service.models import LoginThrottle
from common.clock import as_utc, utcnow
from common.db import Database
from common.errors import ApiError

IP_ALLOWANCE_FACTOR = 4


class TooManyAttempts(ApiError):
    status = 429
    type = "/problems/too-many-login-attempts"
    title = "Too many login attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed logins; try again in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )


@dataclass(frozen=True)
class ThrottlePolicy:
    free_attempts: int = 5
    max_delay: int = 900
    window: int = 900


def _hash(kind: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}:{digest}"


def throttle_keys(username_key: str, client: str) -> dict[str, int]:
    """Each key with the factor applied to the free attempts for it."""
    return {_hash("pair", username_key, client): 1, _hash("ip", client): IP_ALLOWANCE_FACTOR}


def delay_for(failures: int, free_attempts: int, max_delay: int) -> int:
    if failures < free_attempts:
        return 0
    return min(max_delay, 2 ** min(failures - free_attempts, 30))


def check(db: Database, username_key: str, client: str) -> None:
    """Raise TooManyAttempts if any of the request's keys is blocked right now."""
    now = utcnow()
    with db.read() as session:
        rows = session.scalars(
            select(LoginThrottle).where(LoginThrottle.key.in_(throttle_keys(username_key, client)))
        ).all()
    waits = [
        (as_utc(row.blocked_until) - now).total_seconds()
        for row in rows
        if row.blocked_until is not None and as_utc(row.blocked_until) > now
    ]
    if waits:
        raise TooManyAttempts(max(1, math.ceil(max(waits))))


def _insert_ignore(session: Session, key: str, now: datetime) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(LoginThrottle)
        .values(key=key, failures=0, last_failure_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )


def record_failure(db: Database, username_key: str, client: str, policy: ThrottlePolicy) -> None:
    now = utcnow()
    window = timedelta(seconds=policy.window)
    with db.transaction() as session:
        for key, factor in throttle_keys(username_key, client).items():
            _insert_ignore(session, key, now)
            row = session.scalars(
                select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
            ).one()
            if now - as_utc(row.last_failure_at) > window:
                row.failures = 0
            row.failures += 1
            row.last_failure_at = now
            delay = delay_for(row.failures, policy.free_attempts * factor, policy.max_delay)
            row.blocked_until = now + timedelta(seconds=delay) if delay else None


def record_success(db: Database, username_key: str, client: str) -> None:
    """A good password clears the pair's counter (not the address's: logging in to your own
    account must not reset a guesser's budget for other accounts)."""
    pair_key = next(iter(throttle_keys(username_key, client)))
    with db.transaction() as session:
        session.execute(delete(LoginThrottle).where(LoginThrottle.key == pair_key))


def forget_old(db: Database, policy: ThrottlePolicy) -> None:
    """Housekeeping: drop counters whose window and block are both over."""
    cutoff = utcnow() - timedelta(seconds=max(policy.window, policy.max_delay))
    with db.transaction() as session:
        session.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < cutoff))
