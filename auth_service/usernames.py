"""Username rules: how a name is normalised, what it may contain, how uniqueness is keyed.

The rules every stored name follows live in :mod:`common.usernames`, because token verifiers
(the Books Service too) check the ``username`` claim against them. A new name must also not
pass for another one (:mod:`auth_service.lookalikes`): that is only the Auth Service's
concern, and names stored before the rule existed stay valid."""

from __future__ import annotations

from auth_service import lookalikes
from common import usernames as rules
from common.usernames import MAX_LENGTH, MIN_LENGTH, is_stored_username, lookup_key, normalise

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "is_stored_username",
    "lookup_key",
    "normalise",
    "username_problem",
]


def username_problem(username: str) -> str | None:
    """Why this (already normalised) name is refused for a new account, or None: the
    characters and length of :func:`common.usernames.username_problem`, no invisible
    character, and no mixing of scripts that look alike (TR39, Moderately Restrictive)."""
    return (
        rules.username_problem(username)
        or lookalikes.invisible_problem(username)
        or lookalikes.mixed_script_problem(username)
    )
