"""What a username is: how it is normalised, which characters it may hold, how uniqueness is
keyed. Shared because two parties apply it: the Auth Service when an account is registered, and
every token verifier, which refuses a token whose ``username`` claim no version of the Auth
Service could have stored (the Books Service stores it as ``created_by``).

The two checks differ on purpose. A new name must pass :func:`username_problem`, today's rule.
A claim must only be a name some version stored (:func:`is_stored_username`): bounded,
normalised, of the allowed characters. Names of punctuation alone (``...``, ``-_-``) were
registrable before the "at least one letter or digit" rule, may be in a database, and their
owners still log in: their tokens must work.
"""

from __future__ import annotations

import unicodedata

MIN_LENGTH = 3
MAX_LENGTH = 64
PUNCTUATION = frozenset("._-")
# A letter may carry several combining marks (Devanagari, Tamil, Thai, Vietnamese need two or
# three); a longer pile is only there to overdraw neighbouring text ("Zalgo").
MAX_MARKS_PER_LETTER = 4


def normalise(username: str) -> str:
    """Trim and NFKC-normalise, so look-alike spellings of one name become one name."""
    return unicodedata.normalize("NFKC", username).strip()


def lookup_key(username: str) -> str:
    """The case-insensitive key that must be unique ("Ana" and "ana" are the same user)."""
    return unicodedata.normalize("NFKC", normalise(username).casefold())


def _form_problem(username: str) -> str | None:
    """Why this name could never have been stored: its length or a character. Every rule any
    version registered names under passes this (the first one allowed ``isalnum()`` characters
    and ``._-``, which are all letters, numbers or that punctuation, with no marks at all)."""
    if not MIN_LENGTH <= len(username) <= MAX_LENGTH:
        return f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long"
    marks_allowed = 0  # how many more combining marks the current position may take
    for ch in username:
        kind = unicodedata.category(ch)[0]
        if kind == "M":
            if marks_allowed == 0:
                return "may use combining marks (accents, vowel signs) only on a letter"
            marks_allowed -= 1
        elif kind == "L":
            marks_allowed = MAX_MARKS_PER_LETTER
        elif kind == "N" or ch in PUNCTUATION:
            marks_allowed = 0
        else:
            return "may contain only letters, digits, '.', '_' and '-'"
    return None


def username_problem(username: str) -> str | None:
    """Why this (already normalised) name is refused for a new account, or None when it is
    acceptable.

    Allowed: letters (Unicode category L*), each with the combining marks that follow it (M*),
    digits and other numbers (N*), and ``.``, ``_``, ``-``; at least one letter or digit.
    ``isalnum()`` is not the test: it calls the vowel signs of Devanagari or Tamil not
    alphanumeric, which would refuse ordinary names such as ``नमस्ते`` or ``தமிழ்``.
    """
    problem = _form_problem(username)
    if problem:
        return problem
    if not any(unicodedata.category(ch)[0] in "LN" for ch in username):
        return "must contain at least one letter or digit"
    return None


def is_stored_username(value: object) -> bool:
    """Whether ``value`` is a name some version of the Auth Service could have stored, exactly
    as stored: what a token's ``username`` claim must be. Names registered before today's
    rule (``...``) are such names; see the module's docstring."""
    return (
        isinstance(value, str)
        and len(value) <= MAX_LENGTH
        and normalise(value) == value
        and _form_problem(value) is None
    )
