"""URL converters every service's routes use, in a module of their own: the web service, a plain
Flask app, takes them without loading flask-openapi3 (5 MB in each of its processes)."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter


class AsciiIntegerConverter(IntegerConverter):
    """``<int:...>`` with ASCII digits only: Werkzeug's ``\\d+`` also takes other scripts'
    digits, so ``/books/\\u0661`` (Arabic-Indic one) would be book 1 under a second URL."""

    regex = r"[0-9]+"
