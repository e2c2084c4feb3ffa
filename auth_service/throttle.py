"""Password-guessing throttle: progressive delays after failed password checks (logins and
password changes), shared by every worker and replica through the database.

Three counters, each with its own allowance of free failures:

* the pair (username, client address): ``free_attempts`` (5 by default);
* the username alone, three times that (15): many addresses guessing one account;
* the client address alone, four times that (20): one address guessing many names.

Once a counter has used its allowance, each further failure blocks it for 1 s, then 2, 4, 8 …
up to ``max_delay``; a counter whose last failure is older than ``window`` starts again from
zero. A blocked request is answered 429 before any password work and is not counted itself.
A right password clears the pair's counter and gives back the failure it was counted as.

**Known clients.** An address from which an account has logged in (or registered) within
``KNOWN_CLIENT_DAYS`` is, for that account, judged by the pair counter alone: strangers failing
on the name from elsewhere (username counter) or on other names from the same address, a NAT
(address counter), do not lock it out. OWASP's "device cookie" idea, keyed by address because
API clients keep no cookies. Only failures from that very address on that very account slow it
down, and those only by the bounded back-off above. An address new to the account is judged by
all three counters: a stranger who keeps failing on the name keeps such addresses out (a new
device, a changed address; every address right after migration auth_0004), and one sharing a
known address gets fresh guesses after each of the owner's logins there (docs/security.md,
"Brute force and abuse", says exactly what holds).

**Race.** An attempt is counted as a failure *before* the password is checked, in one
transaction with the counters' rows locked, and given back if the password was right: parallel
guesses cannot all pass a check made before any of them was recorded.

Counter keys are HMAC-SHA-256 with a random secret per installation, kept in the auth database
(created on first use): the tables hold no username or address, and, unlike a bare hash of an
IPv4 address, none can be recovered by hashing all 2³² of them.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from auth_service.models import KnownClient, LoginThrottle, RateLimitCounter, Setting
from common.clock import as_utc, utcnow
from common.db import Database
from common.errors import ApiError
from common.prepared import Prepared

USERNAME_ALLOWANCE_FACTOR = 3
IP_ALLOWANCE_FACTOR = 4
KNOWN_CLIENT_DAYS = 90
SECRET_SETTING = "throttle_hmac_key"  # noqa: S105 (the name of a row, not a secret)

_secrets: dict[str, bytes] = {}  # per database URL: read once per process


class TooManyAttempts(ApiError):
    status = 429
    type = "/problems/too-many-login-attempts"
    title = "Too many login attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed password attempts; try again in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )


@dataclass(frozen=True)
class ThrottlePolicy:
    free_attempts: int = 5
    max_delay: int = 900
    window: int = 900


@dataclass(frozen=True)
class _Counted:
    """One counter as it was before this attempt was counted on it."""

    key: str
    failures: int  # 0: nothing counts on this key (a new row, or all given back)
    last_failure_at: datetime
    blocked_until: datetime | None


@dataclass(frozen=True)
class Attempt:
    """A password check in progress, already counted as a failure."""

    at: datetime
    pair_key: str
    known_client_key: str
    counted: tuple[_Counted, ...]


def _insert(session: Session) -> Any:
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert


# Every login runs these (it is counted, then given back): on the driver's cursor
# (:mod:`common.prepared`), as the ORM's unit of work cost more than the statements.
_counters = cast(Table, LoginThrottle.__table__)
_known_clients = cast(Table, KnownClient.__table__)
_KNOWN_SINCE = Prepared(
    select(_known_clients.c.last_seen_at).where(_known_clients.c.key == bindparam("b_key"))
)
_COUNTER = Prepared(
    select(_counters.c.failures, _counters.c.last_failure_at, _counters.c.blocked_until).where(
        _counters.c.key == bindparam("b_key")
    )
)
_COUNT = Prepared(
    update(_counters)
    .where(_counters.c.key == bindparam("b_key"))
    .values(
        failures=bindparam("b_failures"),
        last_failure_at=bindparam("b_at"),
        blocked_until=bindparam("b_until"),
    )
)
_CLEAR = Prepared(delete(_counters).where(_counters.c.key == bindparam("b_key")))


def _upserts(dialect: str) -> tuple[Prepared, Prepared]:
    """The dialect's (create-or-lock a counter, remember a client) statements."""
    found = _UPSERTS.get(dialect)
    if found is None:
        insert = (postgresql if dialect == "postgresql" else sqlite).insert
        # A no-op update when the row exists: it is locked until the transaction ends.
        lock = insert(_counters).on_conflict_do_update(
            index_elements=["key"], set_={"failures": _counters.c.failures}
        )
        remember = insert(_known_clients)
        remember = remember.on_conflict_do_update(
            index_elements=["key"], set_={"last_seen_at": remember.excluded.last_seen_at}
        )
        found = _UPSERTS[dialect] = (Prepared(lock), Prepared(remember))
    return found


_UPSERTS: dict[str, tuple[Prepared, Prepared]] = {}


def installation_secret(db: Database) -> bytes:
    """The HMAC key of this installation, created on first use. Every worker and replica
    reads the same row; two creating it at once agree, since only one insert lands."""
    cached = _secrets.get(db.url)
    if cached is not None:
        return cached
    with db.read() as session:
        row = session.get(Setting, SECRET_SETTING)
        value = row.value if row else None
    if value is None:
        with db.transaction() as session:
            session.execute(
                _insert(session)(Setting)
                .values(key=SECRET_SETTING, value=secrets.token_hex(32))
                .on_conflict_do_nothing(index_elements=["key"])
            )
            value = session.get_one(Setting, SECRET_SETTING).value
    _secrets[db.url] = bytes.fromhex(value)
    return _secrets[db.url]


def keyed_hash(secret: bytes, kind: str, *parts: str) -> str:
    message = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return f"{kind}:{hmac.new(secret, message, hashlib.sha256).hexdigest()}"


def delay_for(failures: int, free_attempts: int, max_delay: int) -> int:
    if failures < free_attempts:
        return 0
    return min(max_delay, 1 << min(failures - free_attempts, 30))  # 1 s, 2 s, 4 s ...


def _locked_row(connection: Connection, key: str, now: datetime) -> _Counted:
    """The counter's row, created if need be, locked until the transaction ends. An upsert
    (a no-op update when the row exists) rather than insert-then-select: the row may be
    deleted by another transaction in between (PostgreSQL, READ COMMITTED); once the upsert
    holds its lock, it is read."""
    lock, _ = _upserts(connection.dialect.name)
    lock.run(connection, {"key": key, "failures": 0, "last_failure_at": now})
    row = _COUNTER.first(connection, {"b_key": key})
    assert row is not None  # locked by this transaction: nobody deleted it
    return _Counted(key, row["failures"], row["last_failure_at"], row["blocked_until"])


def begin(db: Database, username_key: str, client: str, policy: ThrottlePolicy) -> Attempt:
    """Count a password attempt as a failure, or raise TooManyAttempts (counting nothing) if
    a counter that applies to it is blocked. Call :func:`succeeded` if the password was right.
    """
    secret = installation_secret(db)
    pair_key = keyed_hash(secret, "pair", username_key, client)
    known_client_key = keyed_hash(secret, "known", username_key, client)
    now = utcnow()
    with db.transaction() as session:
        connection = session.connection()
        known = _KNOWN_SINCE.first(connection, {"b_key": known_client_key})
        is_known = known is not None and now - as_utc(known["last_seen_at"]) <= timedelta(
            days=KNOWN_CLIENT_DAYS
        )
        factors = {pair_key: 1}
        if not is_known:
            factors[keyed_hash(secret, "user", username_key)] = USERNAME_ALLOWANCE_FACTOR
            factors[keyed_hash(secret, "ip", client)] = IP_ALLOWANCE_FACTOR
        # Always locked in the same order, so two attempts sharing keys never deadlock.
        counted = tuple(_locked_row(connection, key, now) for key in sorted(factors))
        waits = [
            (as_utc(row.blocked_until) - now).total_seconds()
            for row in counted
            if row.blocked_until is not None and as_utc(row.blocked_until) > now
        ]
        if waits:
            raise TooManyAttempts(max(1, math.ceil(max(waits))))  # rolls back: nothing counted
        for row in counted:
            failures = row.failures
            if now - as_utc(row.last_failure_at) > timedelta(seconds=policy.window):
                failures = 0
            failures += 1
            factor = factors[row.key]
            delay = delay_for(failures, policy.free_attempts * factor, policy.max_delay)
            _COUNT.run(
                connection,
                {
                    "b_key": row.key,
                    "b_failures": failures,
                    "b_at": now,
                    "b_until": now + timedelta(seconds=delay) if delay else None,
                },
            )
    return Attempt(now, pair_key, known_client_key, counted)


def succeeded(db: Database, attempt: Attempt) -> None:
    """The password was right: clear the pair, give back the failure counted on the others
    (not clear them: logging in must not reset a guesser's budget), and remember the client."""
    with db.transaction() as session:
        record_success(session, attempt)


def record_success(session: Session, attempt: Attempt) -> None:
    """:func:`succeeded`, in a write transaction of the caller's (a password change records it
    with the new password)."""
    connection = session.connection()
    # In the order begin() locks them (sorted keys), so the two never deadlock.
    for before in sorted(attempt.counted, key=lambda counted: counted.key):
        if before.key == attempt.pair_key:
            _CLEAR.run(connection, {"b_key": before.key})
            continue
        row = session.scalars(
            select(LoginThrottle).where(LoginThrottle.key == before.key).with_for_update()
        ).one_or_none()
        if row is None:
            continue
        if as_utc(row.last_failure_at) != attempt.at:
            row.failures = max(0, row.failures - 1)  # others failed since: keep theirs
        elif before.failures == 0:
            session.delete(row)
        else:  # nobody failed since: the counter goes back to exactly what it was
            row.failures = before.failures
            row.last_failure_at = before.last_failure_at
            row.blocked_until = before.blocked_until
    _remember(connection, attempt.known_client_key, attempt.at)


def remember_client(db: Database, username_key: str, client: str) -> None:
    """Record ``client`` as a known client of this account (it just registered from there)."""
    key = keyed_hash(installation_secret(db), "known", username_key, client)
    with db.transaction() as session:
        _remember(session.connection(), key, utcnow())


def _remember(connection: Connection, key: str, now: datetime) -> None:
    _, remember = _upserts(connection.dialect.name)
    remember.run(connection, {"key": key, "last_seen_at": now})


def forget_old(db: Database, policy: ThrottlePolicy) -> None:
    """Housekeeping: drop counters whose window and block are both over, clients not seen for
    KNOWN_CLIENT_DAYS, and rate-limit counters whose window has ended."""
    now = utcnow()
    cutoff = now - timedelta(seconds=max(policy.window, policy.max_delay))
    with db.transaction() as session:
        session.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < cutoff))
        session.execute(
            delete(KnownClient).where(
                KnownClient.last_seen_at < now - timedelta(days=KNOWN_CLIENT_DAYS)
            )
        )
        session.execute(
            delete(RateLimitCounter).where(RateLimitCounter.expires_at < now.timestamp())
        )
