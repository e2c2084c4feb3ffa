"""Names that look alike, by Unicode Technical Standard #39 (Security Mechanisms).

Two rules keep a new username from passing for another one:

* :func:`mixed_script_problem`: a name may not mix scripts beyond TR39's "Moderately
  Restrictive" level (section 5.2). ``joão`` and ``東京tokyo`` pass; ``ana`` or ``paypal``
  with a Cyrillic ``a`` (U+0430) do not.
* :func:`skeleton_key`: TR39's confusable skeleton (section 4), keyed like the usernames
  themselves. Two names with one key read alike (``ace`` and ``ace`` spelled in Cyrillic,
  ``larry`` and ``Iarry``, ``bob`` and ``b0b``); a new name must not take an account's key.

No list of look-alikes here is our own. The confusables are Unicode's ``confusables.txt`` as
the confusable-homoglyphs package ships it, the scripts Unicode's ``ScriptExtensions.txt`` as
fontTools ships it (docs/security.md says which versions, and why these two packages); the
two short tables written out below are excerpts of Unicode's data that neither package has.
Nothing here knows about HTTP or the database.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Iterable
from importlib import resources
from typing import Any

from fontTools import unicodedata as scripts  # type: ignore[import-untyped]  # untyped package

from common import usernames

# The characters of Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt)
# that the username rule's categories let through, letters (L*) and marks (M*): they show
# nothing, so ``ana`` with one of them must be ``ana``. The property's other characters are
# format characters, unassigned or spaces, which no username may hold. Python's unicodedata
# lacks the property, hence this excerpt of it.
INVISIBLE = frozenset(
    "\u034f"  # COMBINING GRAPHEME JOINER
    "\u115f\u1160\u3164\uffa0"  # HANGUL (CHOSEONG, JUNGSEONG, HALFWIDTH) FILLER
    "\u17b4\u17b5"  # KHMER VOWEL INHERENT AQ, AA
    "\u180b\u180c\u180d\u180f"  # MONGOLIAN FREE VARIATION SELECTORS
    + "".join(map(chr, range(0xFE00, 0xFE10)))  # VARIATION SELECTOR-1..16
    + "".join(map(chr, range(0xE0100, 0xE01F0)))  # VARIATION SELECTOR-17..256
)

COMMON, INHERITED, LATIN = "Zyyy", "Zinh", "Latn"
# TR39 5.1: Han, Hiragana, Katakana, Hangul and Bopomofo are written together; the combined
# writing systems (Han with Bopomofo, Japanese, Korean) are added to each one's set.
_AUGMENTED = {
    "Hani": {"Hanb", "Jpan", "Kore"},
    "Hira": {"Jpan"},
    "Kana": {"Jpan"},
    "Hang": {"Kore"},
    "Bopo": {"Hanb"},
}
# Those writing systems: what Latin may join in "Highly Restrictive" (TR39 5.2), as Han with
# Hiragana and Katakana, with Bopomofo, or with Hangul.
_COMBINED = frozenset({"Hanb", "Jpan", "Kore"})
# "Moderately Restrictive": Latin and any one other Recommended script except these two,
# whose letters copy Latin's (Cherokee's too, but it is not a Recommended script).
_LATIN_LOOKALIKES = frozenset({"Cyrl", "Grek"})
# The Recommended scripts of UAX #31 (Unicode Identifiers), table 5, as ISO 15924 codes.
RECOMMENDED_SCRIPTS = frozenset(
    (  # noqa: SIM905 (a table, as the standard prints it)
        "Zyyy Zinh Arab Armn Beng Bopo Cyrl Deva Ethi Geor Grek Gujr Guru Hang Hani Hebr Hira "
        "Knda Kana Khmr Laoo Latn Mlym Mymr Orya Sinh Taml Telu Thaa Thai Tibt"
    ).split()
)


def clean(text: str) -> str:
    """``text`` of confusable-homoglyphs' data without the LEFT-TO-RIGHT MARKs it copied:
    it took the characters from confusables.txt's comments, which wrap right-to-left ones in
    them to keep the file readable."""
    return text.replace("\u200e", "")


@functools.cache
def confusables_data() -> dict[str, list[dict[str, Any]]]:
    """confusable-homoglyphs' ``confusables.json``, read from the package itself when first
    needed. Not through the package's module: that reads the file at import (a fifth of a
    second, for every start of every worker) from wherever CONFUSABLE_DATA points."""
    data = resources.files("confusable_homoglyphs").joinpath("confusables.json")
    loaded: dict[str, list[dict[str, Any]]] = json.loads(data.read_text(encoding="utf-8"))
    return loaded


@functools.cache
def prototypes() -> dict[str, str]:
    """confusables.txt as it is: each source character and its prototype (one or more
    characters). confusable-homoglyphs stores each of the file's lines in both directions,
    ``{source: [prototype], prototype: [its sources...]}``; the direction is recovered:

    * a source has one line, so one entry; an entry with several is a prototype's;
    * a prototype with a single source has one entry too: then the pair's first key is the
      source, since the package's generator added each line's source before its prototype
      (and a prototype is never itself a source: the file's mapping is idempotent).
    """
    data = confusables_data()
    order = {key: index for index, key in enumerate(data)}
    mapping: dict[str, str] = {}
    for key, entries in data.items():
        if len(entries) != 1:
            continue
        target = entries[0]["c"]
        if len(data[target]) == 1 and order[target] < order[key]:
            continue  # ``key`` is the prototype of the single source ``target``
        source = clean(key)
        if len(source) != 1:
            raise ValueError(f"confusables data: {key!r} is not one character")
        mapping[source] = clean(target)
    return mapping


def skeleton(text: str) -> str:
    """TR39's ``skeleton(X)``: NFD; drop default-ignorable characters; replace each
    character by its prototype; NFD again. Case-sensitive, as Unicode defines it."""
    mapping = prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    mapped = "".join(mapping.get(ch, ch) for ch in decomposed if ch not in INVISIBLE)
    return unicodedata.normalize("NFD", mapped)


def skeleton_key(username: str) -> str:
    """What two usernames that read alike share: the skeleton of the name as shown, keyed
    case-insensitively like the names themselves (:func:`common.usernames.lookup_key`), and
    its skeleton again (casefolding can make a character that has a prototype).

    The skeleton is taken before the case is folded as well as after: folding first would
    lose what capitals look like (``Iarry`` reads as ``larry``; folded it is ``iarry``), and
    ``b0b`` looks like ``bOb``, which is the account ``bob``."""
    shown = skeleton(usernames.normalise(username))
    return skeleton(usernames.lookup_key(shown))


def _augmented_scripts(ch: str) -> frozenset[str] | None:
    """TR39 5.1's augmented script set of a character, from its Script_Extensions; None
    stands for "every script" (Common and Inherited characters: digits, ``_``, marks)."""
    found = set(scripts.script_extension(ch))
    if found & {COMMON, INHERITED}:
        return None
    for script in list(found):
        found |= _AUGMENTED.get(script, set())
    return frozenset(found)


def resolved_scripts(text: str, *, without: str | None = None) -> frozenset[str] | None:
    """TR39 5.1's resolved script set: the scripts every character of ``text`` belongs to
    (None: every script; empty: the text mixes scripts). With ``without``, the characters
    that belong to that script are left out first (TR39 5.2's test of what Latin is mixed
    with)."""
    resolved: frozenset[str] | None = None
    for ch in text:
        found = _augmented_scripts(ch)
        if found is None or (without is not None and without in found):
            continue
        resolved = found if resolved is None else resolved & found
    return resolved


def _script_names(text: str) -> list[str]:
    """The scripts of ``text`` by name, in order of first use: each character's own, or for
    a Common or Inherited one (a digit, a mark), those it is used with, if it has any."""
    names: list[str] = []
    for ch in text:
        found = _augmented_scripts(ch)
        code = scripts.script(ch)
        codes = [code] if code not in (COMMON, INHERITED) else sorted(found or ())
        for each in codes:
            name = scripts.script_name(each, default=each).replace("_", " ")
            if each not in _COMBINED and name not in names:
                names.append(name)
    return names


def _listed(names: Iterable[str]) -> str:
    names = list(names)
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def mixed_script_problem(username: str) -> str | None:
    """Why this (normalised) name mixes scripts beyond TR39's "Moderately Restrictive" level,
    or None. Allowed: one script with Common and Inherited characters (digits, ``._-``,
    marks; ``иван``, ``joão_1``); Latin with Han, Hiragana, Katakana and Hangul as Japanese
    or Korean write them (``東京tokyo``); Latin with one other Recommended script but Cyrillic
    or Greek (``Ελλάδα`` alone is fine, ``Athens`` with a Greek capital Alpha is not)."""
    resolved = resolved_scripts(username)
    if resolved is None or resolved:
        return None
    others = resolved_scripts(username, without=LATIN)
    if others is not None:
        if others & _COMBINED:
            return None
        if others & RECOMMENDED_SCRIPTS and not others & _LATIN_LOOKALIKES:
            return None
    return (
        f"mixes letters of {_listed(_script_names(username))}, which can make it look like "
        "another name; use one script (Latin may be combined with Han, Hiragana, Katakana, "
        "Hangul or one other script in common use, but not with Cyrillic or Greek)"
    )


def invisible_problem(username: str) -> str | None:
    """Why this name holds a character that shows nothing, or None."""
    if any(ch in INVISIBLE for ch in username):
        return "may not contain invisible characters (fillers, joiners, variation selectors)"
    return None
