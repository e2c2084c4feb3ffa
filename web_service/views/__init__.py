"""The pages: one blueprint per area, the error pages, and what every template may use."""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_babel import format_date, format_datetime, format_decimal, get_locale, get_translations

from web_service.formatting import hyphenate_isbn, language_name, parse_timestamp
from web_service.i18n import LOCALE_NAMES, template_gettext
from web_service.messages import (
    ACTION_NAMES,
    CATALOG_ERRORS,
    FIELD_HINTS,
    FIELD_LABELS,
    JOB_STATES,
    NOTICES,
    ROLE_NAMES,
    ROW_ACTIONS,
    error_message,
)
from web_service.sessions import current_user
from web_service.views.accounts import accounts
from web_service.views.admin import admin
from web_service.views.books import books
from web_service.views.catalog import catalog
from web_service.views.errors import init_errors
from web_service.views.imports import imports
from web_service.views.support import WRITERS


def timestamp(value: str | None, style: str = "medium") -> str:
    moment = parse_timestamp(value)
    return format_datetime(moment, style) + " UTC" if moment else ""


def day(value: str | None) -> str:
    moment = parse_timestamp(value)
    return format_date(moment, "medium") if moment else ""


def number(value: Any) -> str:
    return format_decimal(value) if value is not None else ""


def init_views(app: Flask, version: str) -> None:
    for blueprint in (catalog, books, accounts, admin, imports):
        app.register_blueprint(blueprint)
    init_errors(app)
    app.add_template_filter(hyphenate_isbn, "isbn")
    app.add_template_filter(timestamp, "timestamp")
    app.add_template_filter(day, "day")
    app.add_template_filter(number, "number")
    app.add_template_filter(error_message, "error_message")

    @app.template_filter("language")
    def language(code: str | None, locale: str | None = None) -> str:
        """A language's name; pass the page's ``locale`` in loops (one lookup, not fifty)."""
        return language_name(code, locale or str(get_locale() or "en"))

    @app.context_processor
    def page_globals() -> dict[str, Any]:
        user = current_user()
        notice = request.args.get("notice", "")
        return {
            "user": user,
            "can_write": user is not None and user.has_role(*WRITERS),
            "is_admin": user is not None and user.has_role("admin"),
            "locale": str(get_locale() or "en"),
            "locale_names": LOCALE_NAMES,
            "notice": NOTICES.get(notice),
            "field_labels": FIELD_LABELS,
            "field_hints": FIELD_HINTS,
            "role_names": ROLE_NAMES,
            "action_names": ACTION_NAMES,
            "catalog_errors": CATALOG_ERRORS,
            "job_states": JOB_STATES,
            "row_actions": ROW_ACTIONS,
            "version": version,
            **template_gettext(get_translations()),
        }
