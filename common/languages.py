"""ISO 639 language codes: which codes name a language, its shortest code, its ISO 639-2/B
code and its English name, from the table :mod:`ops.language_table` generates out of
pycountry's ISO 639-3 data.

Why not pycountry itself: its first lookup builds an object and four indexes for each of the
7,923 languages, +5.8 MB in every process that checks or names one (each Books worker, a web
worker showing a code babel does not name). The same answers come from three strings and two
small dicts (~0.2 MB), loaded once by the main process and shared with its workers. A unit test
compares every answer here with pycountry's, for every code.
"""

from __future__ import annotations

from array import array
from functools import cache

from common.language_table import ALPHA_2, ALPHA_3, BIBLIOGRAPHIC, NAMES

# The few languages with a two-letter code, by their three-letter one.
_TWO_LETTER_OF = {three: two for two, three in ALPHA_2.items()}
_BIBLIOGRAPHIC_OF = {three: bibliographic for bibliographic, three in BIBLIOGRAPHIC.items()}
_COUNT = len(ALPHA_3) // 3


def _position(alpha_3: str) -> int | None:
    """Where an ISO 639-3 code is in the table (a bisection over its three-letter slots)."""
    low, high = 0, _COUNT
    while low < high:
        middle = (low + high) // 2
        if ALPHA_3[3 * middle : 3 * middle + 3] < alpha_3:
            low = middle + 1
        else:
            high = middle
    found = low < _COUNT and ALPHA_3[3 * low : 3 * low + 3] == alpha_3
    return low if found else None


def _alpha_3(code: str) -> str | None:
    """The ISO 639-3 code of the language an ISO 639-1 or ISO 639-3 code names, as pycountry's
    ``get(alpha_2=...)`` and ``get(alpha_3=...)`` find it (case-insensitive)."""
    code = code.lower()
    if len(code) == 2:
        return ALPHA_2.get(code)
    if len(code) == 3 and _position(code) is not None:
        return code
    return None


def shortest_code(code: str) -> str | None:
    """The two-letter code of the language an ISO 639-1, ISO 639-3 or ISO 639-2/B code names,
    or its three-letter code when it has none ("POR" and "por" -> "pt", "ger" -> "de");
    None for a code that names no language."""
    alpha_3 = _alpha_3(code) or BIBLIOGRAPHIC.get(code.lower())
    if alpha_3 is None:
        return None
    return _TWO_LETTER_OF.get(alpha_3, alpha_3)


def bibliographic_code(alpha_2: str) -> str | None:
    """The ISO 639-2/B code (the one MARC records and calibre use) of the language an ISO 639-1
    code names: its ISO 639-3 code unless the two differ ("de" -> "ger", "pt" -> "por")."""
    alpha_3 = ALPHA_2.get(alpha_2.lower())
    if alpha_3 is None:
        return None
    return _BIBLIOGRAPHIC_OF.get(alpha_3, alpha_3)


def english_name(code: str) -> str | None:
    """The English name of the language an ISO 639-1 or ISO 639-3 code names ("pt" ->
    "Portuguese"), or None."""
    alpha_3 = _alpha_3(code)
    if alpha_3 is None:
        return None
    position = _position(alpha_3)
    if position is None:
        return None
    starts = _name_starts()
    return NAMES[starts[position] : starts[position + 1] - 1]


@cache
def _name_starts() -> array[int]:
    """Where each name begins in :data:`NAMES` (and one past its end): 32 KB, built on the
    first name asked for."""
    starts = array("I", [0])
    end = NAMES.find("\n")
    while end != -1:
        starts.append(end + 1)
        end = NAMES.find("\n", end + 1)
    starts.append(len(NAMES) + 1)
    return starts
