"""``estante import FILE`` and ``estante imports``: catalog imports, which the Books Service runs
as jobs. The file is uploaded (streamed), then the job's progress resource is followed until it
ends; the summary goes to stdout, the rejected rows to a file importable again once fixed."""

from __future__ import annotations

import json
import mimetypes
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from estante_cli import files, output, paging
from estante_cli.client import Api, timeout
from estante_cli.context import api
from estante_cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, ApiProblem, CliError
from estante_cli.mapping import parse_mapping
from estante_cli.output import examples
from estante_cli.progress import CountingReader, JobProgress, bytes_progress, format_seconds

FINISHED = ("succeeded", "failed", "cancelled")
# After the last byte of a large upload the service may take a while to answer (it checks the
# head of the file and stores the rest): the upload waits this long for its answer.
UPLOAD_ANSWER_SECONDS = 600.0
PAGE_SIZE = 100
# Polling starts fast (small files finish in well under a second) and slows to this.
MAX_POLL_SECONDS = 1.0
# After Ctrl-C, how long to wait for the service to confirm the cancellation.
CANCEL_WAIT_SECONDS = 10.0


class Format(StrEnum):
    auto = "auto"
    estante_csv = "estante-csv"
    estante_json = "estante-json"
    estante_jsonl = "estante-jsonl"
    goodreads = "goodreads"
    librarything = "librarything"
    storygraph = "storygraph"
    calibre = "calibre"
    marc = "marc"
    marcxml = "marcxml"
    csv = "csv"


class OnDuplicate(StrEnum):
    skip = "skip"
    update = "update"
    add = "add"


JobId = Annotated[int, typer.Argument(help="The import's id.", min=1, metavar="ID")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")]

imports_app = typer.Typer(
    help="List, show and cancel imports (librarians and administrators); alone, lists the latest.",
    rich_markup_mode="rich",
)


def import_file(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="The catalog file: Estante CSV/JSON/JSON Lines, Goodreads, LibraryThing, "
            "StoryGraph or Calibre export, MARC 21 (.mrc) or MARCXML, or any CSV with --mapping.",
            exists=True,
            dir_okay=False,
            readable=True,
            show_default=False,
            metavar="FILE",
        ),
    ],
    file_format: Annotated[
        Format,
        typer.Option("--format", help="The file's format; detected from its content by default."),
    ] = Format.auto,
    encoding: Annotated[
        str | None,
        typer.Option(help="The file's encoding (utf-8, cp1252, utf-16...); detected by default."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Check every row and show what would happen; write nothing."
        ),
    ] = False,
    on_duplicate: Annotated[
        OnDuplicate,
        typer.Option(
            help="A row matching a book already in the catalog (same ISBN, or title and "
            "authors, or source id): skip it, update the book, or add it anyway."
        ),
    ] = OnDuplicate.skip,
    mapping: Annotated[
        str | None,
        typer.Option(
            help="Columns to book fields, for --format csv: 'Column=field,...', a JSON object, "
            "or a file holding either."
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the rejected rows (default: FILE's name with .rejects before "
            "its extension).",
            dir_okay=False,
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Follow the import until it ends (default), or only start it and print its id.",
        ),
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """Import a catalog file: every row checked like a book sent to the API, duplicates matched,
    rejected rows written to a file you can fix and import again.

    Exit status 0 only when every row was imported; 1 when rows were rejected or the import
    failed. Ctrl-C asks the service to cancel the import (batches already written stay).
    """
    form: dict[str, str] = {"on_duplicate": on_duplicate.value, "dry_run": str(dry_run).lower()}
    if file_format is not Format.auto:
        form["format"] = file_format.value
    if encoding:
        form["encoding"] = encoding
    if mapping is not None:
        form["mapping"] = json.dumps(parse_mapping(mapping), ensure_ascii=False)
    client = api(ctx)
    job = _upload(client, file, form)
    if not wait:
        if as_json:
            output.print_json(job)
        else:
            output.out.print(
                f"Import {job['id']} of {file.name} started ({job.get('state')}); follow it "
                f"with `estante imports show {job['id']}`.",
                markup=False,
            )
        return
    job, interrupted = _follow(client, job)
    rejects_file = None
    if job.get("rejected"):
        rejects_file = _save_rejects(client, job["id"], rejects or _rejects_path(file))
    if as_json:
        output.print_json(job)
    else:
        _summary(job, rejects_file)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    if job.get("state") != "succeeded" or job.get("rejected"):
        raise typer.Exit(EXIT_FAILED)


@imports_app.command("list", epilog=examples("estante imports list", "estante imports --json"))
def list_imports(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The imports, newest first."""
    client = api(ctx)
    listing = paging.read(
        lambda url, params: client.authorized(client.books, "GET", url, params=params),
        "/imports",
        {},
        limit=limit,
        page_size=PAGE_SIZE,
    )
    if as_json:
        output.print_json(listing.items)
        return
    output.table(
        ("ID", "State", "File", "Rows", "Created", "Updated", "Skipped", "Rejected"),
        (
            (
                job["id"],
                ("dry run " if job.get("dry_run") else "") + str(job.get("state")),
                job.get("filename"),
                _rows(job),
                job.get("created"),
                job.get("updated"),
                job.get("skipped"),
                job.get("rejected"),
            )
            for job in listing.items
        ),
    )
    total = listing.total if listing.total is not None else len(listing.items)
    output.notice(f"{len(listing.items)} of {total} imports")


@imports_app.callback(
    invoke_without_command=True,
    epilog=examples(
        "estante imports",
        "estante imports show 7",
        "estante imports cancel 7",
        "estante imports rejects 7 -o fix-me.csv",
    ),
)
def imports_default(
    ctx: typer.Context,
    as_json: JsonFlag = False,
) -> None:
    """List, show and cancel imports (librarians and administrators). Alone: the list."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_imports, ctx=ctx, limit=20, as_json=as_json)


@imports_app.command(epilog=examples("estante imports show 7", "estante imports show 7 --json"))
def show(ctx: typer.Context, job_id: JobId, as_json: JsonFlag = False) -> None:
    """One import: its state, counts, rate and, for a dry run, the preview."""
    client = api(ctx)
    job = client.authorized(client.books, "GET", f"/imports/{job_id}").json()
    if as_json:
        output.print_json(job)
    else:
        _summary(job, None)


@imports_app.command(epilog=examples("estante imports cancel 7"))
def cancel(ctx: typer.Context, job_id: JobId, as_json: JsonFlag = False) -> None:
    """Stop an import; the batches it has already written stay."""
    client = api(ctx)
    job = client.authorized(client.books, "POST", f"/imports/{job_id}/cancel").json()
    if as_json:
        output.print_json(job)
    else:
        output.out.print(f"Import {job_id}: {job.get('state')} ({_rows(job)} rows)", markup=False)


@imports_app.command(
    "rejects",
    epilog=examples("estante imports rejects 7 -o fix-me.csv", "estante imports rejects 7"),
)
def download_rejects(
    ctx: typer.Context,
    job_id: JobId,
    out: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (default: standard output)."),
    ] = None,
) -> None:
    """Download an import's rejected rows (the original rows plus the reason)."""
    client = api(ctx)
    written = _download_rejects(client, job_id, out)
    if out is not None:
        output.out.print(f"Rejected rows of import {job_id}: {out} ({written} bytes)", markup=False)


def _upload(client: Api, file: Path, form: dict[str, str]) -> dict[str, Any]:
    size = file.stat().st_size
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    with bytes_progress(f"uploading {file.name}", size) as advance:

        def body() -> dict[str, Any]:
            handle = file.open("rb")
            opened.append(handle)
            reader = CountingReader(handle, advance)
            return {"files": {"file": (file.name, reader, content_type)}}

        opened: list[Any] = []
        try:
            # The whole upload must fit in the access token's life: ask for a long one.
            response = client.authorized(
                client.books,
                "POST",
                "/imports",
                data=form,
                build=body,
                margin=300,
                timeout=timeout(max(client.seconds, UPLOAD_ANSWER_SECONDS)),
            )
        except ApiProblem as problem:
            if problem.status == 403:
                problem.message += " (importing needs the librarian or admin role)"
            raise
        except KeyboardInterrupt:
            raise CliError(
                f"interrupted while sending {file.name}; if the Books Service had it all, the "
                "import may have started anyway: `estante imports` lists it",
                EXIT_INTERRUPTED,
            ) from None
        finally:
            for handle in opened:
                handle.close()
    job = response.json()
    if not isinstance(job, dict) or "id" not in job:
        raise CliError("the Books Service answered the upload with an unexpected body")
    return job


def _follow(client: Api, job: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Poll the job until it ends, with a progress bar; Ctrl-C asks the service to cancel.
    The job as it ended, and whether it was interrupted."""
    job_id = job["id"]
    delay = 0.1
    try:
        with JobProgress(f"import {job_id}") as bar:
            while job.get("state") not in FINISHED:
                bar.update(job)
                time.sleep(delay)
                delay = min(delay * 2, MAX_POLL_SECONDS)
                job = client.authorized(client.books, "GET", f"/imports/{job_id}").json()
    except KeyboardInterrupt:
        return _cancel_after_interrupt(client, job_id), True
    return job, False


def _cancel_after_interrupt(client: Api, job_id: int) -> dict[str, Any]:
    output.warning(f"interrupted: asking the Books Service to cancel import {job_id}...")
    try:
        job = client.authorized(client.books, "POST", f"/imports/{job_id}/cancel").json()
        deadline = time.monotonic() + CANCEL_WAIT_SECONDS
        while job.get("state") not in FINISHED and time.monotonic() < deadline:
            time.sleep(0.2)
            job = client.authorized(client.books, "GET", f"/imports/{job_id}").json()
    except KeyboardInterrupt:
        raise CliError(
            f"stopped following import {job_id}; `estante imports show {job_id}` tells where it "
            f"is, `estante imports cancel {job_id}` stops it",
            EXIT_INTERRUPTED,
        ) from None
    except CliError as error:
        if isinstance(error, ApiProblem) and error.status == 409:  # it had just ended
            return dict(client.authorized(client.books, "GET", f"/imports/{job_id}").json())
        raise CliError(
            f"could not cancel import {job_id} ({error.message}); run `estante imports cancel "
            f"{job_id}`",
            EXIT_INTERRUPTED,
        ) from None
    if job.get("state") not in FINISHED:
        output.warning(f"import {job_id} is still {job.get('state')}; it stops at its next batch")
    return dict(job)


def _rejects_path(source: Path) -> Path:
    """``library.csv`` → ``library.rejects.csv``, beside the imported file."""
    return source.with_name(f"{source.stem}.rejects{source.suffix}")


def _save_rejects(client: Api, job_id: int, destination: Path) -> Path | None:
    try:
        _download_rejects(client, job_id, destination)
    except CliError as error:
        output.warning(f"the rejected rows could not be saved: {error.message}")
        return None
    return destination


def _download_rejects(client: Api, job_id: int, destination: Path | None) -> int:
    with client.authorized_stream(client.books, "GET", f"/imports/{job_id}/rejects") as answer:
        return files.save(answer, destination, "rejected rows")


def _summary(job: dict[str, Any], rejects_file: Path | None) -> None:
    dry = bool(job.get("dry_run"))
    kind = "Dry run" if dry else "Import"
    took = _duration(job)
    source = f" of {job['filename']}" if job.get("filename") else ""
    detected = ", ".join(str(job[k]) for k in ("format", "encoding") if job.get(k))
    head = f"{kind} {job['id']}{source}" + (f" ({detected})" if detected else "")
    output.out.print(f"{head}: {job.get('state')}{took}", markup=False)
    verb = ("would be " if dry else "") + "{}"
    output.fields(
        [
            ("rows", _rows(job)),
            (verb.format("created"), job.get("created")),
            (verb.format("updated"), job.get("updated")),
            (verb.format("skipped"), f"{job.get('skipped')} (already in the catalog)"),
            (verb.format("rejected"), job.get("rejected")),
        ]
    )
    if job.get("state") not in FINISHED and isinstance(job.get("rate"), int | float):
        eta = job.get("eta_seconds")
        left = f", about {format_seconds(eta)} left" if isinstance(eta, int | float) else ""
        output.out.print(f"{job['rate']:,.0f} rows/s{left}", markup=False)
        if job.get("indexes_deferred"):
            output.out.print(
                "While it runs, lists sorted by title, author or publisher, or filtered by "
                "author, are slower.",
                markup=False,
            )
    if job.get("error"):
        output.out.print(f"error: {job['error']}", markup=False)
    if dry:
        output.out.print("Nothing was written (dry run).", markup=False)
    if dry and job.get("preview"):
        output.table(
            ("Row", "Action", "Title", "Author", "ISBN", "Reason"),
            (
                (
                    item.get("row"),
                    item.get("action"),
                    (item.get("book") or {}).get("title"),
                    (item.get("book") or {}).get("author")
                    or (item.get("book") or {}).get("authors"),
                    (item.get("book") or {}).get("isbn"),
                    item.get("reason"),
                )
                for item in job["preview"]
            ),
            title="First rows",
        )
    if rejects_file is not None:
        output.out.print(
            f"Rejected rows: {rejects_file} (fix them and import that file again)", markup=False
        )


def _rows(job: dict[str, Any]) -> str:
    done, total = job.get("rows_done"), job.get("rows_total")
    return f"{done}/{total}" if total is not None else f"{done}"


def _duration(job: dict[str, Any]) -> str:
    try:
        started = datetime.fromisoformat(job["started_at"])
        finished = datetime.fromisoformat(job["finished_at"])
    except (KeyError, TypeError, ValueError):
        return ""
    seconds = (finished - started).total_seconds()
    rows = job.get("rows_done") or 0
    rate = f", {rows / seconds:,.0f} rows/s" if seconds > 0 and rows else ""
    return f" in {format_seconds(seconds) if seconds >= 60 else f'{seconds:.1f} s'}{rate}"


IMPORT_EPILOG = examples(
    "estante import goodreads_library_export.csv --dry-run",
    "estante import goodreads_library_export.csv",
    "estante import librarything.tsv --encoding cp1252 --on-duplicate update",
    "estante import records.mrc --rejects bad-records.mrc",
    "estante import shop.csv --format csv --mapping 'Titulo=title,Autor=author,EAN=isbn'",
    "estante import big.csv --no-wait",
)


def register(app: typer.Typer) -> None:
    app.command("import", epilog=IMPORT_EPILOG)(import_file)
    app.add_typer(imports_app, name="imports")
