"""Languages: English and Brazilian Portuguese. The choice comes from the switcher's cookie,
else from Accept-Language (pt-BR, pt_BR, pt and any other Portuguese give Portuguese), else
the configured default. Catalogs (.po) are in translations/; their compiled .mo files are
built from them when missing or older, at start (never committed)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

SUPPORTED_LOCALES = ("en", "pt_BR")
LOCALE_NAMES = {"en": "English", "pt_BR": "Português (Brasil)"}
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


def supported(tag: str) -> str | None:
    """The locale a language tag asks for, if we have it."""
    tag = tag.strip().lower().replace("_", "-")
    if tag == "pt" or tag.startswith("pt-"):
        return "pt_BR"
    if tag == "en" or tag.startswith("en-"):
        return "en"
    return None


def choose_locale(cookie: str | None, accept_language: str | None, default: str = "en") -> str:
    if cookie in SUPPORTED_LOCALES:
        return cookie
    accepted = parse_accept_header(accept_language or "", LanguageAccept)
    for tag, quality in sorted(accepted, key=lambda item: -item[1]):
        if quality <= 0:
            continue
        if tag == "*":
            return default
        locale = supported(tag)
        if locale:
            return locale
    return default


def compile_catalogs(directory: Path = TRANSLATIONS_DIR) -> list[Path]:
    """Compile every messages.po whose .mo is missing or older; returns what was written.
    Written to a temporary file and renamed, so a worker never reads half a catalog."""
    written = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        temporary = mo_path.with_name(f".{mo_path.name}.{secrets.token_hex(6)}")
        with temporary.open("wb") as mo_file:
            write_mo(mo_file, catalog)
        os.replace(temporary, mo_path)
        written.append(mo_path)
    return written
