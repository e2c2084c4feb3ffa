"""The number of live books, kept exact in the writing transactions (see ``BookCount``)."""

from __future__ import annotations

import random

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from books_service.models import BookCount

SLOTS = 8


def adjust(session: Session, delta: int) -> None:
    """Count ``delta`` more (or fewer) live books, in the caller's transaction."""
    slot = random.randrange(SLOTS)  # noqa: S311 - spreading lock contention, not a secret
    session.execute(
        update(BookCount).where(BookCount.slot == slot).values(live=BookCount.live + delta)
    )


def live_books(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(BookCount.live), 0))) or 0)
