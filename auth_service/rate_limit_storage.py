"""A ``limits`` storage in the auth database, for the request limits when there is no Redis.

Flask-Limiter's in-memory storage counts per worker process: with two workers a limit of ten
let through nearly twice that. The database is already shared by every worker and replica, so
the counters live there: one row per limit and client, a fixed window (it starts at the first
hit and lasts the limit's period), incremented by a single ``INSERT … ON CONFLICT DO UPDATE``
that both SQLite and PostgreSQL run atomically, so concurrent hits never lose a count. Keys
(which hold the client's address) are stored as keyed hashes, like the login throttle's.

Registered under the URI scheme ``estante-db://``; the :class:`~common.db.Database` comes in as
the storage option ``database``.
"""

from __future__ import annotations

import time
from typing import Any

from limits.storage import Storage
from sqlalchemy import CursorResult, case, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from auth_service import throttle
from auth_service.models import RateLimitCounter
from common.db import Database

SCHEME = "estante-db"
# Every so many hits a worker also deletes the counters whose window has ended.
CLEANUP_EVERY = 500


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
        table = RateLimitCounter.__table__
        expired = table.c.expires_at <= now
        with self.db.transaction() as session:
            dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            statement = (
                dialect.insert(RateLimitCounter)
                .values(key=hashed, hits=amount, expires_at=now + expiry)
                .on_conflict_do_update(
                    index_elements=["key"],
                    # Both expressions read the row as it was: a window that has ended
                    # starts again with this hit, a current one counts it.
                    set_={
                        "hits": case((expired, amount), else_=table.c.hits + amount),
                        "expires_at": case((expired, now + expiry), else_=table.c.expires_at),
                    },
                )
                .returning(RateLimitCounter.hits)
            )
            hits = session.execute(statement).scalar_one()
            self._hits += 1
            if self._hits % CLEANUP_EVERY == 0:
                session.execute(delete(RateLimitCounter).where(expired))
        return hits

    def _row(self, key: str) -> tuple[int, float] | None:
        hashed = self._key(key)
        with self.db.read() as session:
            row = session.execute(
                select(RateLimitCounter.hits, RateLimitCounter.expires_at).where(
                    RateLimitCounter.key == hashed,
                    RateLimitCounter.expires_at > time.time(),
                )
            ).one_or_none()
        return (row.hits, row.expires_at) if row else None

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
