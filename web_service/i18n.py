"""Languages: English and Brazilian Portuguese. The choice comes from the switcher's cookie,
else from Accept-Language (pt-BR, pt_BR, pt and any other Portuguese give Portuguese), else
the configured default. Catalogs (.po) are in translations/; their compiled .mo files are
built from them when missing or older, at start (never committed)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from functools import lru_cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2.runtime import Context
from jinja2.utils import pass_context
from markupsafe import Markup
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


@lru_cache(maxsize=16)
def template_gettext(translations: NullTranslations) -> dict[str, Callable[..., str]]:
    """``gettext`` and ``ngettext`` for templates, bound to one locale's ``translations``.

    Given to each render in place of Flask-Babel's, which look the translations up again for
    every string (some 30 per page); these behave as Jinja's "newstyle" ones do: the result
    is escaped-safe text and ``%(name)s`` takes the keyword arguments (``num`` by default in
    ``ngettext``). Cached per translations object (Flask-Babel keeps one per locale)."""

    @pass_context
    def gettext(context: Context, string: str, /, **variables: Any) -> str:
        text = translations.gettext(string)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 (our catalog's text; the variables get escaped)
        return text % variables  # always a format string, as Jinja's

    @pass_context
    def ngettext(
        context: Context, singular: str, plural: str, num: int, /, **variables: Any
    ) -> str:
        variables.setdefault("num", num)
        text = translations.ngettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 (our catalog's text; the variables get escaped)
        return text % variables

    return {"gettext": gettext, "ngettext": ngettext}
