"""Username normalisation and rules."""

from __future__ import annotations

import pytest

from auth_service.usernames import lookup_key, normalise, username_problem


def test_normalise_trims_and_applies_nfkc() -> None:
    assert normalise("  ana  ") == "ana"
    assert normalise("\uff55\uff53\uff45\uff52") == "user"  # fullwidth letters
    assert normalise("Jose\u0301") == "José"


@pytest.mark.parametrize(
    ("a", "b"), [("Ana", "ANA"), ("Straße", "STRASSE"), ("ｍａｒｉａ", "Maria")]
)
def test_lookup_keys_ignore_case_and_width(a: str, b: str) -> None:
    assert lookup_key(a) == lookup_key(b)


@pytest.mark.parametrize("name", ["abc", "joão.silva", "user_1", "a-b", "x" * 64, "名前です"])
def test_accepted_names(name: str) -> None:
    assert username_problem(name) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("ab", "3 to 64"),
        ("x" * 65, "3 to 64"),
        ("ana maria", "only letters"),
        ("ana@example", "only letters"),
        ("emoji😀x", "only letters"),
        ("nul\x00x", "only letters"),
    ],
)
def test_refused_names(name: str, problem: str) -> None:
    assert problem in (username_problem(name) or "")
