"""``estante export``: the catalog, or the books matching the filters of ``GET /books``, in one of
the Books Service's export formats, streamed to a file or to standard output."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from estante_cli import files, output
from estante_cli.context import api
from estante_cli.options import filter_params, with_filters
from estante_cli.output import examples


class ExportFormat(StrEnum):
    estante_csv = "estante-csv"
    estante_json = "estante-json"
    estante_jsonl = "estante-jsonl"
    calibre = "calibre"
    marc = "marc"
    marcxml = "marcxml"


# The format a file's extension asks for, when --format is not given.
BY_SUFFIX = {
    ".csv": ExportFormat.estante_csv,
    ".json": ExportFormat.estante_json,
    ".jsonl": ExportFormat.estante_jsonl,
    ".ndjson": ExportFormat.estante_jsonl,
    ".mrc": ExportFormat.marc,
    ".marc": ExportFormat.marc,
    ".xml": ExportFormat.marcxml,
}

EXPORT_EPILOG = examples(
    "estante export -o catalog.csv",
    "estante export -o catalog.jsonl",
    "estante export --format marcxml --language pt -o portuguese.xml",
    "estante export --format calibre --author 'Machado de Assis' -o machado.csv",
    "estante export --format estante-jsonl --q dickens | jq .title",
)


@with_filters
def export(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to this file (replaced only once complete); default: standard output.",
            dir_okay=False,
        ),
    ] = None,
    export_format: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            help="Default: from the output file's extension (.csv, .json, .jsonl, .mrc, .xml), "
            "else estante-csv.",
        ),
    ] = None,
    words: Annotated[
        str | None,
        typer.Option("--q", help="Only books matching these words (as `books search`)."),
    ] = None,
    **filters: Any,
) -> None:
    """Export the catalog (no login needed), or the books matching the filters."""
    chosen = export_format or (BY_SUFFIX.get(out.suffix.lower()) if out else None)
    chosen = chosen or ExportFormat.estante_csv
    client = api(ctx)
    params = {**filter_params(filters, words), "format": chosen.value}
    with client.books.stream("GET", "/books/export", params=params) as answer:
        written = files.save(answer, out, f"exporting {chosen.value}")
    summary = f"Exported {_size(written)} as {chosen.value}" + (f" to {out}" if out else "")
    if out is None:
        output.notice(summary)  # standard output holds the export itself
    else:
        output.out.print(summary, markup=False)


def _size(count: int) -> str:
    size: float = count
    for unit in ("bytes", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{count} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return str(size)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXPORT_EPILOG)(export)
