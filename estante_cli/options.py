"""Options declared once and given to several commands: Typer reads a command's signature, so
a decorator that extends the signature adds the same options everywhere it is used (the command
receives them in ``**options``). The catalog filters of ``GET /books`` live here, shared by
``books search`` and ``export``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])
FILTER_PANEL = "Filters"
SORTS = (
    "title, -title, author, -author, published_year, -published_year, created_at, "
    "-created_at, updated_at, -updated_at, id, -id, relevance"
)


def with_options(parameters: list[tuple[str, Any]]) -> Callable[[F], F]:
    """Give the decorated command (which takes ``**options``) one keyword option per
    ``(name, Annotated[type, typer.Option(...)])``, defaulting to None."""

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        kept = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
            for name, kind in parameters
        ]
        # Typer reads a function's __signature__, which functions allow though mypy does not.
        command.__signature__ = signature.replace(parameters=kept + added)  # type: ignore[attr-defined]
        return command

    return decorate


def _filter(kind: Any, help_text: str) -> Any:
    return Annotated[kind, typer.Option(help=help_text, rich_help_panel=FILTER_PANEL)]


FILTERS: list[tuple[str, Any]] = [
    ("author", _filter(str | None, "Books by this author (the whole name).")),
    ("subject", _filter(str | None, "Books with this subject.")),
    ("language", _filter(str | None, "ISO 639 language code (pt, por, en...).")),
    ("publisher", _filter(str | None, "Books of this publisher (the whole name).")),
    ("isbn", _filter(str | None, "ISBN-10 or ISBN-13.")),
    ("year_from", _filter(int | None, "Published in or after this year.")),
    ("year_to", _filter(int | None, "Published in or before this year.")),
    ("sort", _filter(str | None, f"Order ('-' for descending): {SORTS}.")),
]
with_filters = with_options(FILTERS)


def filter_params(options: dict[str, Any], words: str | None = None) -> dict[str, Any]:
    """The query string of ``GET /books`` (and of its export) for the filters given."""
    params = {name: options.get(name) for name, _ in FILTERS}
    params["q"] = words
    return {name: value for name, value in params.items() if value is not None}
