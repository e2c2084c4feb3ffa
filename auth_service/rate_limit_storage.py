"""A ``limits`` storage in the auth database, for the request limits when there is no Redis.

Flask-Limiter's in-memory storage counts per worker process: with two workers a limit of ten
let through nearly twice that. The database is already shared by every worker and replica, so
the counters live there: one row per limit and client, a fixed window (it starts at the first
hit and lasts the limit's period), incremented by a single ``INSERT … ON CONFLICT DO UPDATE``
that both SQLite and PostgreSQL run atomically, so concurrent hits never lose a count. Keys
(which hold the client's address) are stored as keyed hashes, like the login throttle's.

A hit is a :meth:`~common.db.Database.write` (on SQLite, hits and refreshes queued together
share one transaction) and a window's stats one read, both on the driver's cursor
(:mod:`common.prepared`): a limited refresh without Redis was mostly the counting, three ORM
sessions and three statements built again for each request.

Registered under the URI scheme ``estante-db://``; the :class:`~common.db.Database` comes in as
the storage option ``database``.
"""

from __future__ import annotations

import time
from typing import Any, cast

from limits.storage import Storage
from sqlalchemy import (
    Connection,
    CursorResult,
    Float,
    Integer,
    Table,
    bindparam,
    case,
    delete,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from auth_service import throttle
from auth_service.models import RateLimitCounter
from common.db import Database
from common.prepared import Prepared

SCHEME = "estante-db"
# Every so many hits a worker also deletes the counters whose window has ended.
CLEANUP_EVERY = 500


_counters = cast(Table, RateLimitCounter.__table__)
_WINDOW = Prepared(
    select(_counters.c.hits, _counters.c.expires_at).where(
        _counters.c.key == bindparam("b_key"), _counters.c.expires_at > bindparam("b_now")
    )
)
_CLEANUP = Prepared(delete(_counters).where(_counters.c.expires_at <= bindparam("b_now")))


def _hit(dialect: str) -> Prepared:
    """The dialect's hit: ``b_amount`` more on the key's counter, or a new window with them
    when there is none or it has ended; returns the hits."""
    found = _HITS.get(dialect)
    if found is None:
        insert = (postgresql if dialect == "postgresql" else sqlite).insert
        amount = bindparam("b_amount", type_=Integer())
        expires_at = bindparam("b_expires_at", type_=Float())
        # Both expressions read the row as it was: a window that has ended starts again with
        # this hit, a current one counts it.
        expired = _counters.c.expires_at <= bindparam("b_now")
        statement = (
            insert(_counters)
            .values(key=bindparam("b_key"), hits=amount, expires_at=expires_at)
            .on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "hits": case((expired, amount), else_=_counters.c.hits + amount),
                    "expires_at": case((expired, expires_at), else_=_counters.c.expires_at),
                },
            )
            .returning(_counters.c.hits)
        )
        found = _HITS[dialect] = Prepared(statement)
    return found


_HITS: dict[str, Prepared] = {}


class DatabaseStorage(Storage):
    STORAGE_SCHEME = [SCHEME]

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        *,
        database: Database | None = None,
        **options: Any,
    ) -> None:
        if database is None:
            raise ValueError(f"the {SCHEME} storage needs the option database=<Database>")
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.db = database
        self._hits = 0

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def _key(self, key: str) -> str:
        return throttle.keyed_hash(throttle.installation_secret(self.db), "limit", key)

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        # Before the transaction: the key's secret may have to be read or created, in a
        # transaction of its own, which must not wait for this one's write lock (SQLite).
        hashed = self._key(key)
        now = time.time()
        params = {"b_key": hashed, "b_amount": amount, "b_expires_at": now + expiry, "b_now": now}
        self._hits += 1
        cleanup = self._hits % CLEANUP_EVERY == 0

        def hit(connection: Connection) -> int:
            hits: int = _hit(connection.dialect.name).run(connection, params).fetchone()[0]
            if cleanup:
                _CLEANUP.run(connection, {"b_now": now})
            return hits

        return self.db.write(hit)

    def _row(self, key: str) -> tuple[int, float] | None:
        params = {"b_key": self._key(key), "b_now": time.time()}
        with self.db.engine.connect() as connection:
            row = _WINDOW.first(connection, params)
        return (row["hits"], row["expires_at"]) if row else None

    def get(self, key: str) -> int:
        row = self._row(key)
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row[1] if row else time.time()

    def check(self) -> bool:
        try:
            with self.db.read() as session:
                session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.db.transaction() as session:
            result = session.execute(delete(RateLimitCounter))
            return result.rowcount if isinstance(result, CursorResult) else None

    def clear(self, key: str) -> None:
        hashed = self._key(key)
        with self.db.transaction() as session:
            session.execute(delete(RateLimitCounter).where(RateLimitCounter.key == hashed))
