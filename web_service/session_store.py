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

from sqlalchemy import delete, or_, select, update

from common.clock import as_utc, utcnow
from common.db import Database
from web_service.models import WebSessionRow


class SessionStoreDown(Exception):
    """Redis did not answer (refused, timed out, failed): the error pages' 503. Raised in place
    of redis-py's own errors so that a web service without REDIS_URL never imports redis-py
    (6 MB in each web process) just to name them."""


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


class SqlSessionStore:
    """Sessions in the web service's database (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, record: SessionRecord) -> None:
        values = asdict(record)
        values["roles"] = ",".join(record.roles)
        with self.db.transaction() as session:
            row = session.get(WebSessionRow, record.id_hash)
            if row is None:
                session.add(WebSessionRow(**values, refresh_lock_until=None))
                # Expired sessions go when new ones come: no timer needed.
                session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < utcnow()))
            else:
                for name, value in values.items():
                    setattr(row, name, value)

    def get(self, id_hash: str) -> SessionRecord | None:
        with self.db.read() as session:
            row = session.get(WebSessionRow, id_hash)
            if row is None or as_utc(row.expires_at) <= utcnow():
                return None
            return SessionRecord(
                id_hash=row.id_hash,
                user_id=row.user_id,
                username=row.username,
                roles=tuple(r for r in row.roles.split(",") if r),
                access_token=row.access_token,
                access_expires_at=as_utc(row.access_expires_at),
                refresh_token=row.refresh_token,
                created_at=as_utc(row.created_at),
                expires_at=as_utc(row.expires_at),
            )

    def delete(self, id_hash: str) -> None:
        with self.db.transaction() as session:
            session.execute(delete(WebSessionRow).where(WebSessionRow.id_hash == id_hash))

    def try_lock(self, id_hash: str, seconds: float) -> bool:
        now = utcnow()
        with self.db.transaction() as session:
            result = session.execute(
                update(WebSessionRow)
                .where(
                    WebSessionRow.id_hash == id_hash,
                    or_(
                        WebSessionRow.refresh_lock_until.is_(None),
                        WebSessionRow.refresh_lock_until < now,
                    ),
                )
                .values(refresh_lock_until=now + timedelta(seconds=seconds))
            )
            return bool(getattr(result, "rowcount", 0))

    def unlock(self, id_hash: str) -> None:
        with self.db.transaction() as session:
            session.execute(
                update(WebSessionRow)
                .where(WebSessionRow.id_hash == id_hash)
                .values(refresh_lock_until=None)
            )

    def ping(self) -> str | None:
        try:
            with self.db.read() as session:
                session.execute(select(WebSessionRow.id_hash).limit(1))
        except Exception as error:  # any database failure is "not ready"
            return f"session database unusable ({type(error).__name__})"
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
