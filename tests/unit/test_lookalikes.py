"""Names that look alike (Unicode TR39): the mixed-script rule, the skeleton, and the data
they are built from."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auth_service import lookalikes
from auth_service.models import SKELETON_LENGTH
from auth_service.usernames import MAX_LENGTH, normalise, username_problem

CYRILLIC_A = "\u0430"


@pytest.mark.parametrize(
    "name",
    [
        "joão",
        "Jürgen",
        "Nguyễn",
        "user_1",
        "123",
        "иван",  # Cyrillic alone
        "Ελλάδα",  # Greek alone
        "東京tokyo",  # Latin with Han (Japanese, Chinese)
        "とうきょうtokyo",  # Latin with Hiragana
        "名前です",  # Han with Hiragana: Japanese
        "서울seoul",  # Latin with Hangul
        "漢字한국",  # Han with Hangul: Korean
        "namasteनमस्ते",  # Latin with one other Recommended script
        "abc٣",  # Latin with an Arabic-Indic digit (Script_Extensions: Arabic, Thaana, Yezidi)
        "أحمد_٣",
        "ivan.1-2",
    ],
)
def test_names_of_one_script_or_an_allowed_mix_are_accepted(name: str) -> None:
    assert lookalikes.mixed_script_problem(normalise(name)) is None
    assert username_problem(normalise(name)) is None


@pytest.mark.parametrize(
    ("name", "scripts"),
    [
        (f"{CYRILLIC_A}na", "Cyrillic and Latin"),
        (f"p{CYRILLIC_A}ypal", "Latin and Cyrillic"),
        ("\u03bfkay", "Greek and Latin"),  # Greek small omicron
        ("\u0391thens", "Greek and Latin"),  # Greek capital Alpha
        ("\u13aana", "Cherokee and Latin"),  # Cherokee is not a Recommended script
        ("иванΩ", "Cyrillic and Greek"),
        ("שלוםمرحبا", "Hebrew and Arabic"),
        ("ab\u0483", "Latin"),  # a Cyrillic combining mark (Script_Extensions: Cyrillic)
        ("東京иван", "Han and Cyrillic"),
    ],
)
def test_names_mixing_scripts_that_look_alike_are_refused(name: str, scripts: str) -> None:
    problem = username_problem(normalise(name)) or ""
    assert problem.startswith(f"mixes letters of {scripts}"), problem


@given(
    st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789_"), min_size=2, max_size=20),
    st.sampled_from("абвгдеёжзийклмнопрстуфхцчшщъыьэюя"),
    st.integers(min_value=0, max_value=20),
)
def test_one_cyrillic_letter_among_latin_ones_is_refused(
    latin: str, cyrillic: str, position: int
) -> None:
    if not any(ch.isalpha() for ch in latin):
        latin += "x"
    name = latin[:position] + cyrillic + latin[position:]
    assert lookalikes.mixed_script_problem(name) is not None


@given(st.text(st.characters(min_codepoint=0x0400, max_codepoint=0x04FF, categories=["Ll", "Lu"])))
def test_cyrillic_letters_alone_never_mix_scripts(name: str) -> None:
    assert lookalikes.mixed_script_problem(normalise(name)) is None


def test_default_ignorable_characters_are_refused_and_ignored_by_the_skeleton() -> None:
    # COMBINING GRAPHEME JOINER is a mark (it passes the character rule) that shows nothing.
    assert "invisible" in (username_problem("ana\u034f") or "")
    assert "invisible" in (username_problem("\u3164\u3164ana") or "")  # HANGUL FILLER
    assert lookalikes.skeleton_key("ana\u034f") == lookalikes.skeleton_key("ana")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ana", f"{CYRILLIC_A}na"),
        ("paypal", f"p{CYRILLIC_A}ypal"),
        ("ace", "асе"),  # Cyrillic a, es, ie: one script, reads as Latin
        ("ok", "\u03bfk"),  # Greek omicron
        ("ana", "ΑΝΑ"),  # Greek capitals read as ANA, the same account as ana
        ("ljubljana", "ǉubljana"),  # the digraph letter
        ("modern", "rnodern"),  # m reads as r n
        ("bob", "b0b"),  # 0 reads as O (TR39), and O is o in a case-insensitive name
        ("larry", "Iarry"),  # capital I reads as l
        ("will", "wi11"),  # 1 reads as l
        ("ana", "ＡＮＡ"),  # fullwidth: one name once normalised
        ("tokyo", "tοkyο"),
    ],
)
def test_names_that_read_alike_share_a_skeleton_key(a: str, b: str) -> None:
    assert lookalikes.skeleton_key(a) == lookalikes.skeleton_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("joão", "joao"),  # an accent is part of the name
        ("jürgen", "jurgen"),
        ("иван", "ivan"),
        ("ana", "anna"),
        ("東京", "京東"),
        ("ana", "ana1"),
    ],
)
def test_names_that_differ_visibly_have_different_skeleton_keys(a: str, b: str) -> None:
    assert lookalikes.skeleton_key(a) != lookalikes.skeleton_key(b)


def test_the_skeleton_follows_unicode_data_case_sensitively() -> None:
    # TR39's own function: 0 maps to capital O, lowercase o is its own prototype.
    assert lookalikes.skeleton("0") == "O"
    assert lookalikes.skeleton("o") == "o"
    assert lookalikes.skeleton("\u0430") == "a"
    assert lookalikes.skeleton("ǉ") == "lj"
    assert lookalikes.skeleton("m") == "rn"


NAME_CHARACTERS = st.characters(categories=["L", "M", "N"]) | st.sampled_from("._-")


@given(st.text(NAME_CHARACTERS, max_size=30))
def test_a_skeleton_is_its_own_skeleton(text: str) -> None:
    once = lookalikes.skeleton(text)
    assert lookalikes.skeleton(once) == once


def sources_of(letter: str) -> list[str]:
    """The characters confusables.txt maps to ``letter``'s prototype that a stored name can
    hold (normalised: NFKC turns e.g. the long s into an s first)."""
    prototype = lookalikes.skeleton(letter)
    return sorted(
        source
        for source, target in lookalikes.prototypes().items()
        if target == prototype and normalise(source) == source
    )


SOURCES = {letter: sources_of(letter) for letter in "abcdefghijklmnopqrstuvwxyz"}


@given(st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), min_size=3, max_size=20), st.data())
def test_swapping_a_letter_for_any_of_its_confusables_keeps_the_key(
    name: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(name) - 1))
    choices = SOURCES[name[position]]
    if choices:
        swapped = name[:position] + data.draw(st.sampled_from(choices)) + name[position + 1 :]
        assert lookalikes.skeleton_key(swapped) == lookalikes.skeleton_key(name)


def test_the_prototypes_are_unicode_data_read_in_the_right_direction() -> None:
    mapping = lookalikes.prototypes()
    # Every line of the package's data is one mapping, in one direction.
    data = lookalikes.confusables_data()
    lines = {frozenset((key, entry["c"])) for key, entries in data.items() for entry in entries}
    assert len(mapping) == len(lines)
    # confusables.txt is idempotent: no prototype character is itself mapped.
    assert not {ch for prototype in mapping.values() for ch in prototype} & mapping.keys()
    # The characters are what the data names them (LEFT-TO-RIGHT MARKs removed).
    names = {
        lookalikes.clean(entry["c"]): entry["n"] for entries in data.values() for entry in entries
    }
    for source, prototype in mapping.items():
        for text in (source, prototype):
            assert ", ".join(unicodedata.name(ch) for ch in text) == names[text]
    # Well-known lines of confusables.txt, source to prototype.
    assert mapping["\u0430"] == "a"
    assert mapping["0"] == "O"
    assert mapping["1"] == "l"
    assert mapping["I"] == "l"
    assert "a" not in mapping


def test_a_skeleton_key_fits_its_column() -> None:
    longest = max(
        len(lookalikes.skeleton_key(chr(cp)))
        for cp in range(0x110000)
        if unicodedata.category(chr(cp))[0] in "LMN"
        and unicodedata.normalize("NFKC", chr(cp)) == chr(cp)
    )
    assert longest * MAX_LENGTH <= SKELETON_LENGTH
