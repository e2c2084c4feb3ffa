"""What a username is: how it is normalised, which characters it may hold, how uniqueness is
keyed. Shared because two parties apply the same rule: the Auth Service when an account is
registered, and every token verifier, which refuses a token whose ``username`` claim could never
have been registered (the Books Service stores it as ``created_by``)."""

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


def username_problem(username: str) -> str | None:
    """Why this (already normalised) name is refused, or None when it is acceptable.

    Allowed: letters (Unicode category L*), each with the combining marks that follow it (M*),
    digits and other numbers (N*), and ``.``, ``_``, ``-``; at least one letter or digit.
    ``isalnum()`` is not the test: it calls the vowel signs of Devanagari or Tamil not
    alphanumeric, which would refuse ordinary names such as ``नमस्ते`` or ``தமிழ்``.
    """
    if not MIN_LENGTH <= len(username) <= MAX_LENGTH:
        return f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long"
    marks_allowed = 0  # how many more combining marks the current position may take
    has_letter_or_digit = False
    for ch in username:
        kind = unicodedata.category(ch)[0]
        if kind == "M":
            if marks_allowed == 0:
                return "may use combining marks (accents, vowel signs) only on a letter"
            marks_allowed -= 1
            continue
        if kind == "L":
            marks_allowed = MAX_MARKS_PER_LETTER
            has_letter_or_digit = True
        elif kind == "N":
            marks_allowed = 0
            has_letter_or_digit = True
        elif ch in PUNCTUATION:
            marks_allowed = 0
        else:
            return "may contain only letters, digits, '.', '_' and '-'"
    if not has_letter_or_digit:
        return "must contain at least one letter or digit"
    return None


def is_valid_username(value: object) -> bool:
    """Whether ``value`` is a name the Auth Service could have registered, exactly as stored."""
    return (
        isinstance(value, str)
        and len(value) <= MAX_LENGTH
        and normalise(value) == value
        and username_problem(value) is None
    )
