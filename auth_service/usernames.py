"""Username rules: how a name is normalised, what it may contain, how uniqueness is keyed.

The rules themselves live in :mod:`common.usernames`, because token verifiers (the Books
Service too) check the ``username`` claim against them."""

from __future__ import annotations

from common.usernames import (
    MAX_LENGTH,
    MIN_LENGTH,
    is_stored_username,
    lookup_key,
    normalise,
    username_problem,
)

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "is_stored_username",
    "lookup_key",
    "normalise",
    "username_problem",
]
