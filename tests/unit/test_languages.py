"""The compact ISO 639 table (common/languages.py) answers as pycountry's whole table does."""

from __future__ import annotations

from itertools import product
from string import ascii_lowercase

import pycountry

from common import languages
from ops.language_table import TABLE, render


def test_the_generated_table_is_what_the_installed_pycountry_makes() -> None:
    assert TABLE.read_text(encoding="utf-8") == render(), "run `make language-table`"


def _every_code() -> list[str]:
    """Every two- and three-letter code of ASCII letters, in both cases, and pycountry's codes."""
    letters = ascii_lowercase
    codes = ["".join(p) for n in (2, 3) for p in product(letters, repeat=n)]
    return codes + [code.upper() for code in codes] + ["Por", "dE", "", "a", "port", "pö"]


def _shortest_by_pycountry(code: str) -> str | None:
    language = None
    if len(code) == 2:
        language = pycountry.languages.get(alpha_2=code)
    elif len(code) == 3:
        language = pycountry.languages.get(alpha_3=code) or pycountry.languages.get(
            bibliographic=code
        )
    return None if language is None else getattr(language, "alpha_2", None) or language.alpha_3


def _name_by_pycountry(code: str) -> str | None:
    language = pycountry.languages.get(alpha_2=code) if len(code) == 2 else None
    language = language or pycountry.languages.get(alpha_3=code)
    return language.name if language else None


def _bibliographic_by_pycountry(code: str) -> str | None:
    language = pycountry.languages.get(alpha_2=code) if len(code) == 2 else None
    return None if language is None else getattr(language, "bibliographic", language.alpha_3)


def test_every_code_names_the_language_pycountry_names() -> None:
    codes = _every_code()
    assert [languages.shortest_code(c) for c in codes] == [_shortest_by_pycountry(c) for c in codes]
    assert [languages.english_name(c) for c in codes] == [_name_by_pycountry(c) for c in codes]
    assert [languages.bibliographic_code(c) for c in codes] == [
        _bibliographic_by_pycountry(c) for c in codes
    ]


def test_a_few_codes_read_as_a_person_expects() -> None:
    assert languages.shortest_code("POR") == "pt"
    assert languages.shortest_code("ger") == "de"
    assert languages.shortest_code("tpi") == "tpi"
    assert languages.shortest_code("xx") is None
    assert languages.english_name("pt") == "Portuguese"
    assert languages.english_name("zza") == "Zaza"
    assert languages.bibliographic_code("de") == "ger"
