"""ISBNs: parse ISBN-10 or ISBN-13 (with or without hyphens and spaces), check the check digit,
and convert between the two forms. Books are stored under their ISBN-13."""

from __future__ import annotations

import re
from itertools import count
from operator import mul

SEPARATORS = re.compile(r"[\s\-\u2010-\u2015]")  # spaces, hyphens and Unicode dashes


class InvalidIsbn(ValueError):
    pass


def isbn10_check_digit(first_nine: str) -> str:
    if first_nine.isascii() and first_nine.isdigit():
        # The digits' code points, weighted, less the weighted code point of "0": one C loop
        # over the bytes instead of an int() a digit (imports check millions of these).
        n = len(first_nine)
        total = sum(map(mul, count(10, -1), first_nine.encode())) - 48 * (10 * n - n * (n - 1) // 2)
    else:
        total = sum(map(mul, count(10, -1), map(int, first_nine)))
    value = (11 - total % 11) % 11
    return "X" if value == 10 else str(value)


def isbn13_check_digit(first_twelve: str) -> str:
    if first_twelve.isascii() and first_twelve.isdigit():
        # As isbn10_check_digit: the code points summed, less those of the "0"s.
        n, codes = len(first_twelve), first_twelve.encode()
        total = sum(codes[0::2]) + 3 * sum(codes[1::2]) - 48 * ((n + 1) // 2 + 3 * (n // 2))
    else:
        digits = list(map(int, first_twelve))
        total = sum(digits[0::2]) + 3 * sum(digits[1::2])
    return str((10 - total % 10) % 10)


def to_isbn13(isbn10: str) -> str:
    body = "978" + isbn10[:9]
    return body + isbn13_check_digit(body)


def to_isbn10(isbn13: str) -> str | None:
    """The ISBN-10 of a 978 ISBN-13; 979 ISBNs have none."""
    if not isbn13.startswith("978"):
        return None
    body = isbn13[3:12]
    return body + isbn10_check_digit(body)


def normalise(value: str) -> str:
    """The ISBN-13 for any valid ISBN-10 or ISBN-13; InvalidIsbn says what is wrong."""
    # Letters and digits only (as nearly every ISBN an import reads): no separator to drop.
    plain = value.isascii() and value.isalnum()
    compact = (value if plain else SEPARATORS.sub("", value)).upper()
    if len(compact) == 10:
        if not (compact[:9].isascii() and compact[:9].isdigit()) or compact[9] not in "0123456789X":
            raise InvalidIsbn("an ISBN-10 is 9 digits and a check digit (0-9 or X)")
        if isbn10_check_digit(compact[:9]) != compact[9]:
            raise InvalidIsbn("the ISBN-10 check digit is wrong")
        return to_isbn13(compact)
    if len(compact) == 13:
        if not (compact.isascii() and compact.isdigit()):
            raise InvalidIsbn("an ISBN-13 is 13 digits")
        if not compact.startswith(("978", "979")):
            raise InvalidIsbn("an ISBN-13 starts with 978 or 979")
        if compact.startswith("9790"):
            # The same EAN-13 space, but 979-0 was given to music: an ISMN names a score.
            raise InvalidIsbn("979-0 is an ISMN, not an ISBN (it numbers printed music)")
        if isbn13_check_digit(compact[:12]) != compact[12]:
            raise InvalidIsbn("the ISBN-13 check digit is wrong")
        return compact
    raise InvalidIsbn("an ISBN has 10 or 13 digits (hyphens and spaces are ignored)")
