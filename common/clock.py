"""Time, always UTC. One place to read the clock, so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Every stored time is UTC, but SQLite hands datetimes back without their zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def isoformat(moment: datetime) -> str:
    """ISO 8601 in UTC with a 'Z'."""
    return as_utc(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")
