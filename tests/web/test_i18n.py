"""Choosing the language, and every string of the interface translated."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from web_service.i18n import TRANSLATIONS_DIR, choose_locale, compile_catalogs

WEB_SERVICE = Path(__file__).resolve().parents[2] / "web_service"


@pytest.mark.parametrize(
    ("accept_language", "locale"),
    [
        ("pt-BR", "pt_BR"),
        ("pt_BR", "pt_BR"),
        ("pt", "pt_BR"),
        ("pt-PT", "pt_BR"),
        ("PT-br,en;q=0.5", "pt_BR"),
        ("en-US,en;q=0.9", "en"),
        ("en", "en"),
        ("fr-FR, pt;q=0.8, en;q=0.5", "pt_BR"),
        ("fr-FR, en;q=0.8, pt;q=0.5", "en"),
        ("en;q=0.2, pt-BR;q=0.9", "pt_BR"),
        ("de", "en"),
        ("", "en"),
        ("pt;q=0", "en"),
        ("*", "en"),
        ("garbage;;;,,", "en"),
    ],
)
def test_the_locale_follows_accept_language(accept_language: str, locale: str) -> None:
    assert choose_locale(None, accept_language) == locale


def test_the_switchers_cookie_wins_over_accept_language() -> None:
    assert choose_locale("en", "pt-BR") == "en"
    assert choose_locale("pt_BR", "en-US") == "pt_BR"


def test_an_unknown_cookie_value_is_ignored() -> None:
    assert choose_locale("xx", "pt-BR") == "pt_BR"
    assert choose_locale("../../etc", None) == "en"


def test_the_default_applies_when_nothing_matches() -> None:
    assert choose_locale(None, "de-DE", default="pt_BR") == "pt_BR"


def test_every_string_of_the_code_and_templates_has_a_portuguese_translation() -> None:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
    found = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(WEB_SERVICE), method_map, keywords=keywords
        )
    }
    with (TRANSLATIONS_DIR / "pt_BR" / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
        catalog = read_po(po_file, locale="pt_BR")
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalog
        if m.id and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    assert len(found) > 200
    assert sorted(found - translated) == []


def test_catalogs_compile_only_when_the_po_is_newer(tmp_path: Path) -> None:
    po = tmp_path / "pt_BR" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid "Catalog"\nmsgstr "Catálogo"\n', encoding="utf-8")
    assert compile_catalogs(tmp_path) == [po.with_suffix(".mo")]
    assert compile_catalogs(tmp_path) == []
    assert b"Cat\xc3\xa1logo" in po.with_suffix(".mo").read_bytes()
