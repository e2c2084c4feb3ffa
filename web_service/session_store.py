"""Where logged-in sessions live: the service's own database (SQLite in data/ by default), or
Redis when REDIS_URL is set. Both keep the same record under the hash of the session id, and
both offer a short lock so that one request at a time refreshes a session's tokens (refresh
tokens rotate: two requests using the same one would end the session)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from common.clock import as_utc, utcnow
from common.dbapi import DbApiDatabase, error_name, sqlite_time


class SessionStoreDown(Exception):
    """The session store did not answer (Redis refused, timed out, failed; the database is
    down): the error pages' 503. Raised in place of the drivers' own errors (the cause) so that
    the web service never imports redis-py (6 MB in each web process) or psycopg just to name
    them."""


@dataclass(frozen=True)
class SessionRecord:
    id_hash: str
    user_id: int
    username: str
    roles: tuple[str, ...]
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    created_at: datetime
    expires_at: datetime

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    def with_tokens(
        self,
        access_token: str,
        access_expires_at: datetime,
        refresh_token: str,
        roles: tuple[str, ...],
        username: str,
    ) -> SessionRecord:
        return replace(
            self,
            access_token=access_token,
            access_expires_at=access_expires_at,
            refresh_token=refresh_token,
            roles=roles,
            username=username,
        )


class SessionStore(Protocol):
    def save(self, record: SessionRecord) -> None: ...
    def get(self, id_hash: str) -> SessionRecord | None: ...
    def delete(self, id_hash: str) -> None: ...
    def try_lock(self, id_hash: str, seconds: float) -> bool: ...
    def unlock(self, id_hash: str) -> None: ...
    def ping(self) -> str | None: ...


_COLUMNS = (
    "id_hash",
    "user_id",
    "username",
    "roles",
    "access_token",
    "access_expires_at",
    "refresh_token",
    "created_at",
    "expires_at",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM web_sessions WHERE id_hash = ?"  # noqa: S608


class SqlSessionStore:
    """Sessions in the web service's database (SQLite or PostgreSQL), in the table its
    migrations create (``web_sessions``), reached through the DB-API (:mod:`common.dbapi`) so
    that no web process loads SQLAlchemy. A database error that means "down" (PEP 249's
    ``OperationalError``) is raised as :class:`SessionStoreDown`: the 503 page."""

    def __init__(self, db: DbApiDatabase) -> None:
        self.db = db

    @contextmanager
    def _answering(self) -> Iterator[None]:
        try:
            yield
        except self.db.driver.OperationalError as error:
            raise SessionStoreDown(f"session database: {error_name(error)}") from error

    def save(self, record: SessionRecord) -> None:
        values = asdict(record)
        values["roles"] = ",".join(record.roles)
        row = [values[name] for name in _COLUMNS]
        with self._answering(), self.db.transaction() as sql:
            found = sql.execute("SELECT 1 FROM web_sessions WHERE id_hash = ?", [record.id_hash])
            if found.fetchone() is None:
                placeholders = ", ".join("?" * (len(_COLUMNS) + 1))
                sql.execute(
                    f"INSERT INTO web_sessions ({', '.join(_COLUMNS)}, refresh_lock_until) "  # noqa: S608
                    f"VALUES ({placeholders})",
                    [*row, None],
                )
                # Expired sessions go when new ones come: no timer needed.
                sql.execute("DELETE FROM web_sessions WHERE expires_at < ?", [utcnow()])
            else:
                assignments = ", ".join(f"{name} = ?" for name in _COLUMNS[1:])
                sql.execute(
                    f"UPDATE web_sessions SET {assignments} WHERE id_hash = ?",  # noqa: S608
                    [*row[1:], record.id_hash],
                )

    def get(self, id_hash: str) -> SessionRecord | None:
        with self._answering(), self.db.read() as sql:
            row = sql.execute(_SELECT, [id_hash]).fetchone()
        if row is None:
            return None
        values = dict(zip(_COLUMNS, row, strict=True))
        for name in ("access_expires_at", "created_at", "expires_at"):
            values[name] = as_utc(sqlite_time(values[name]))
        if values["expires_at"] <= utcnow():
            return None
        values["roles"] = tuple(r for r in values["roles"].split(",") if r)
        return SessionRecord(**values)

    def delete(self, id_hash: str) -> None:
        with self._answering(), self.db.transaction() as sql:
            sql.execute("DELETE FROM web_sessions WHERE id_hash = ?", [id_hash])

    def try_lock(self, id_hash: str, seconds: float) -> bool:
        now = utcnow()
        with self._answering(), self.db.transaction() as sql:
            result = sql.execute(
                "UPDATE web_sessions SET refresh_lock_until = ? WHERE id_hash = ? "
                "AND (refresh_lock_until IS NULL OR refresh_lock_until < ?)",
                [now + timedelta(seconds=seconds), id_hash, now],
            )
            return result.rowcount > 0

    def unlock(self, id_hash: str) -> None:
        with self._answering(), self.db.transaction() as sql:
            sql.execute(
                "UPDATE web_sessions SET refresh_lock_until = NULL WHERE id_hash = ?", [id_hash]
            )

    def ping(self) -> str | None:
        try:
            with self.db.read() as sql:
                sql.execute("SELECT id_hash FROM web_sessions LIMIT 1").fetchone()
        except Exception as error:  # any database failure is "not ready"
            return f"session database unusable ({error_name(error)})"
        return None


class RedisSessionStore:
    """Sessions in Redis (several web replicas share them): one JSON value per session that
    expires with it, and the refresh lock as a key set only if absent."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
        self.prefix = prefix

    @contextmanager
    def _answering(self) -> Iterator[None]:
        import redis

        try:
            yield
        except redis.RedisError as error:
            raise SessionStoreDown(f"Redis: {type(error).__name__}") from error

    def _key(self, id_hash: str) -> str:
        return f"{self.prefix}:session:{id_hash}"

    def _lock(self, id_hash: str) -> str:
        return f"{self.prefix}:refresh-lock:{id_hash}"

    def save(self, record: SessionRecord) -> None:
        ttl = int((record.expires_at - utcnow()).total_seconds())
        if ttl <= 0:
            self.delete(record.id_hash)
            return
        values: dict[str, Any] = asdict(record)
        for name in ("access_expires_at", "created_at", "expires_at"):
            values[name] = values[name].isoformat()
        with self._answering():
            self.redis.set(self._key(record.id_hash), json.dumps(values), ex=ttl)

    def get(self, id_hash: str) -> SessionRecord | None:
        with self._answering():
            raw = self.redis.get(self._key(id_hash))
        if raw is None:
            return None
        values = json.loads(cast(bytes, raw))  # a synchronous client: bytes, never awaitable
        for name in ("access_expires_at", "created_at", "expires_at"):
            values[name] = datetime.fromisoformat(values[name])
        values["roles"] = tuple(values["roles"])
        record = SessionRecord(**values)
        return record if record.expires_at > utcnow() else None

    def delete(self, id_hash: str) -> None:
        with self._answering():
            self.redis.delete(self._key(id_hash), self._lock(id_hash))

    def try_lock(self, id_hash: str, seconds: float) -> bool:
        with self._answering():
            locked = self.redis.set(self._lock(id_hash), "1", nx=True, px=int(seconds * 1000))
        return bool(locked)

    def unlock(self, id_hash: str) -> None:
        with self._answering():
            self.redis.delete(self._lock(id_hash))

    def ping(self) -> str | None:
        import redis

        try:
            self.redis.ping()
        except redis.RedisError as error:
            return f"Redis unreachable ({type(error).__name__})"
        return None
