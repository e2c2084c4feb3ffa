"""Where things are written: results on standard output (tables for people, ``--json`` for
scripts), progress, notices and errors on standard error, so ``estante ... > file`` keeps only
the result."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

# Rich looks up sys.stdout/sys.stderr at each write, so tests that swap them see the output.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


def examples(*lines: str) -> str:
    """A command's help epilog: example command lines (Rich markup)."""
    return "[bold]Examples[/bold]\n\n" + "\n".join(lines)


def print_json(data: Any) -> None:
    """JSON for scripts: plain (no colours), UTF-8, one document."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def notice(message: str) -> None:
    """A remark for the person at the terminal (stderr)."""
    err.print(Text(message, style="dim"))


def warning(message: str) -> None:
    err.print(Text("warning: ", style="yellow bold") + Text(message))


def error(message: str) -> None:
    err.print(Text("error: ", style="red bold") + Text(message), soft_wrap=True)


def cell(value: Any) -> Text:
    """A value as table text, taken literally (catalog data is never Rich markup)."""
    if value is None:
        return Text("")
    if isinstance(value, list):
        return Text("; ".join(str(v) for v in value))
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, float) and value.is_integer():
        return Text(str(int(value)))
    return Text(str(value))


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    grid = Table(*columns, title=title, show_lines=False, header_style="bold")
    for row in rows:
        grid.add_row(*(cell(value) for value in row))
    out.print(grid)


def fields(pairs: Iterable[tuple[str, Any]], title: str | None = None) -> None:
    """Name/value pairs, one per line (a record shown in full)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for name, value in pairs:
        grid.add_row(name, cell(value))
    if title:
        out.print(Text(title, style="bold"))
    out.print(grid)
