"""The Web Service's one table: browser sessions and the tokens they hold (server-side only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import service_metadata


class WebBase(DeclarativeBase):
    metadata = service_metadata()


class WebSessionRow(WebBase):
    """A logged-in browser. The key is the SHA-256 of the cookie's session id, so the table
    alone opens no session; the tokens never leave the server."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(256))
    roles: Mapped[str] = mapped_column(String(200))
    access_token: Mapped[str] = mapped_column(Text)
    access_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    refresh_token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    refresh_lock_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
