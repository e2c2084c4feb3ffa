"""Username rules: how a name is normalised, what it may contain, how uniqueness is keyed."""

from __future__ import annotations

import unicodedata

MIN_LENGTH = 3
MAX_LENGTH = 64
_ALLOWED_PUNCTUATION = frozenset("._-")


def normalise(username: str) -> str:
    """Trim and NFKC-normalise, so look-alike spellings of one name become one name."""
    return unicodedata.normalize("NFKC", username).strip()


def lookup_key(username: str) -> str:
    """The case-insensitive key that must be unique ("Ana" and "ana" are the same user)."""
    return unicodedata.normalize("NFKC", normalise(username).casefold())


def username_problem(username: str) -> str | None:
    """Why this (already normalised) name is refused, or None when it is acceptable."""
    if not MIN_LENGTH <= len(username) <= MAX_LENGTH:
        return f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long"
    if not all(ch.isalnum() or ch in _ALLOWED_PUNCTUATION for ch in username):
        return "may contain only letters, digits, '.', '_' and '-'"
    return None
