"""Username normalisation and rules."""

from __future__ import annotations

import pytest

from auth_service.usernames import is_stored_username, lookup_key, normalise, username_problem


def test_normalise_trims_and_applies_nfkc() -> None:
    assert normalise("  ana  ") == "ana"
    assert normalise("\uff55\uff53\uff45\uff52") == "user"  # fullwidth letters
    assert normalise("Jose\u0301") == "José"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Ana", "ANA"),
        ("Straße", "STRASSE"),
        ("ｍａｒｉａ", "Maria"),
        ("Jose\u0301", "JOSÉ"),  # decomposed and composed accents are one name
        ("ΣΊΣΥΦΟΣ", "σίσυφος"),
    ],
)
def test_lookup_keys_ignore_case_and_width(a: str, b: str) -> None:
    assert lookup_key(a) == lookup_key(b)


@pytest.mark.parametrize(
    "name",
    [
        "abc",
        "joão.silva",
        "user_1",
        "a-b",
        "x" * 64,
        "名前です",
        "नमस्ते",  # Devanagari: the virama and the vowel sign are combining marks (Mn)
        "தமிழ்",  # Tamil: a spacing vowel sign (Mc) and a virama (Mn)
        "สวัสดี",  # Thai: vowel and tone marks above letters
        "Nguyễn",  # Vietnamese (NFKC composes its two diacritics into one letter)
        "أحمد",
        "123",  # digits alone are a name
        "_ana_",
        "a.b",
        "e" + "\u0301" * 4,  # four marks on a letter (composed: é and three more)
    ],
)
def test_accepted_names(name: str) -> None:
    assert username_problem(normalise(name)) is None
    assert is_stored_username(normalise(name))


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("ab", "3 to 64"),
        ("x" * 65, "3 to 64"),
        ("ana maria", "only letters"),
        ("ana@example", "only letters"),
        ("emoji😀x", "only letters"),
        ("nul\x00x", "only letters"),
        ("tab\tx", "only letters"),
        ("zero\u200bwidth", "only letters"),  # format characters (Cf) are not letters
        ("...", "at least one letter or digit"),
        ("-_-", "at least one letter or digit"),
        ("___", "at least one letter or digit"),
        ("\u0301abc", "combining marks"),  # a mark with nothing under it
        ("_\u0301ab", "combining marks"),  # ... or on punctuation
        ("1\u0301ab", "combining marks"),  # ... or on a digit
        ("a" + "\u0301\u0302\u0303\u0304\u0306\u0307", "combining marks"),  # a pile of marks
    ],
)
def test_refused_names(name: str, problem: str) -> None:
    assert problem in (username_problem(normalise(name)) or "")


@pytest.mark.parametrize(
    "value",
    [
        None,
        5,
        ["ana"],
        "",
        "ab",
        "x" * 100_000,
        "ana\x00",
        " ana",
        "ＡＮＡ",
        "Jose\u0301",
        "ana maria",
        "\u0301abc",
    ],
)
def test_claims_that_are_not_stored_names(value: object) -> None:
    # What a token's username claim must not be: not a string, too long, not normalised
    # (a registered name is stored normalised), or of characters no rule ever allowed.
    assert not is_stored_username(value)


@pytest.mark.parametrize("name", ["...", "-_-", "___", "._."])
def test_names_registered_under_the_first_rule_are_still_stored_names(name: str) -> None:
    # The first rule (isalnum() or '._-') let names of punctuation alone register; they are
    # refused for new accounts now, but their owners still log in and need working tokens.
    assert "at least one letter or digit" in (username_problem(name) or "")
    assert is_stored_username(name)


def test_every_name_the_first_rule_allowed_is_a_stored_name() -> None:
    # The first rule, as it was: 3 to 64 characters, each isalnum() or one of '._-'. Every
    # character it allowed, alone or in a name, passes today's claim check.
    allowed = [chr(cp) for cp in range(0x110000) if chr(cp).isalnum()]
    for ch in allowed:
        name = normalise(ch * 3)
        if len(name) <= 64 and all(c.isalnum() or c in "._-" for c in name):
            assert is_stored_username(name), repr(ch)
