"""The Books Service's tables. Only this service reads or writes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.clock import utcnow
from common.db import service_metadata

TITLE_MAX = 500
AUTHOR_MAX = 300


class BooksBase(DeclarativeBase):
    metadata = service_metadata()


class Book(BooksBase):
    __tablename__ = "books"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    author: Mapped[str] = mapped_column(String(AUTHOR_MAX))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    # The username from the token of whoever added the book.
    created_by: Mapped[str] = mapped_column(String(64))
