"""HTTP endpoints of imports and exports: parse, call the transfer modules, respond."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from flask import Response, current_app, request, stream_with_context, url_for
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlalchemy import select

from books_service import listing
from books_service.auth import WRITER_ROLES, current_username, require_roles
from books_service.models import ImportReject
from books_service.responses import json_response
from books_service.schemas import BookQuery
from books_service.transfer import export, export_writers, formats, jobs, runner
from books_service.transfer.formats import EXPORT_FORMATS, FORMATS, IMPORT_FORMATS
from books_service.transfer.rows import FileProblem
from books_service.transfer.schemas import ImportJobList, ImportJobOut
from common.db import Database, get_db
from common.errors import ApiError, NotFound
from common.json_body import no_json_body
from common.openapi import header, problems
from common.paging import PageQuery, page_answer, page_response

imports_tag = Tag(name="imports", description="Bring a catalog in: import jobs")
export_tag = Tag(name="export", description="Take the catalog out")
bearer: list[dict[str, list[str]]] = [{"bearerAuth": []}]
ON_DUPLICATE = ("skip", "update", "add")
_FILENAME_UNSAFE = re.compile(r"[^\w.\- ()\[\]]+")

transfer_api = APIBlueprint("transfer", __name__)


class BadImport(ApiError):
    status = 422
    type = "/problems/bad-import"
    title = "The file cannot be imported"


class ImportTooLarge(ApiError):
    status = 413
    type = "/problems/too-large"
    title = "Payload Too Large"


class UnknownImportField(BadImport):
    type = "/problems/validation-error"
    title = "Invalid request"


def _librarians_for_imports() -> None:
    """Every /imports endpoint, reads included, is for librarians and administrators."""
    if request.path.startswith("/imports"):
        require_roles(WRITER_ROLES)


transfer_api.before_request(_librarians_for_imports)


class ImportPath(BaseModel):
    import_id: int


class ExportQuery(BookQuery):
    # The formats are a tuple built from the registry, which mypy cannot read as literals.
    format: Literal[EXPORT_FORMATS] = Field(  # type: ignore[valid-type]
        "estante-csv", description="The file format (default estante-csv)"
    )


IMPORT_FORM = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "The file"},
                    "format": {"type": "string", "enum": ["auto", *IMPORT_FORMATS]},
                    "encoding": {"type": "string", "examples": ["cp1252"]},
                    "on_duplicate": {"type": "string", "enum": list(ON_DUPLICATE)},
                    "dry_run": {"type": "boolean"},
                    "mapping": {
                        "type": "string",
                        "description": 'JSON object {"<column>": "<field>"} (format csv)',
                    },
                },
            },
            "example": {
                "file": "Book Id,Title,Author,Exclusive Shelf\r\n1,Dune,Frank Herbert,read\r\n",
                "format": "auto",
                "on_duplicate": "skip",
                "dry_run": True,
            },
        }
    },
}
JOB_ANSWER = {
    "description": "The import job",
    "content": {"application/json": {"schema": ImportJobOut.model_json_schema()}},
}
JOB_PAGE = page_answer("A page of import jobs, newest first", ImportJobList.model_json_schema())


def _field_error(field: str, message: str) -> UnknownImportField:
    return UnknownImportField(
        f"The request has invalid fields: {field}: {message}",
        errors=[{"field": field, "message": message, "type": "value_error"}],
    )


def _form() -> dict[str, Any]:
    form = request.form
    fmt = (form.get("format") or "auto").strip()
    if fmt != "auto" and fmt not in FORMATS:
        raise _field_error("format", f"must be auto or one of {', '.join(IMPORT_FORMATS)}")
    on_duplicate = (form.get("on_duplicate") or "skip").strip()
    if on_duplicate not in ON_DUPLICATE:
        raise _field_error("on_duplicate", "must be skip, update or add")
    dry_run_text = (form.get("dry_run") or "false").strip().lower()
    if dry_run_text not in ("true", "false", "1", "0"):
        raise _field_error("dry_run", "must be true or false")
    mapping = None
    if form.get("mapping"):
        try:
            mapping = json.loads(form["mapping"])
        except ValueError:
            mapping = None
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        ):
            raise _field_error("mapping", 'must be a JSON object {"<column>": "<field>", ...}')
    return {
        "format": fmt,
        "encoding": (form.get("encoding") or "").strip() or None,
        "on_duplicate": on_duplicate,
        "dry_run": dry_run_text in ("true", "1"),
        "mapping": mapping,
    }


def _filename(name: str | None) -> str:
    cleaned = _FILENAME_UNSAFE.sub("_", (name or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    return cleaned.strip()[:255] or "upload"


@transfer_api.post(
    "/imports",
    tags=[imports_tag],
    responses={
        202: {**JOB_ANSWER, "headers": {"Location": header("The job's URL")}},
        **problems(401, 403, 413, 422, 503),
    },
    security=bearer,
    openapi_extensions={"requestBody": IMPORT_FORM},
)
@no_json_body
def create_import() -> Response:
    """Start an import (librarians, administrators): a multipart upload of the file, its format
    (detected when absent), encoding (detected when absent), what to do with duplicates and
    whether it is a dry run. The job runs in the background: follow its Location."""
    settings = current_app.config["ESTANTE_SETTINGS"]
    request.max_content_length = settings.import_max_bytes + 64 * 1024  # the form's own parts
    upload = request.files.get("file")
    if upload is None:
        raise _field_error("file", "is required (a multipart/form-data part named file)")
    options = _form()
    head = upload.stream.read(formats.HEAD_BYTES)
    upload.stream.seek(0, 2)
    size = upload.stream.tell()
    if size > settings.import_max_bytes:
        raise ImportTooLarge(
            f"The file has {size:,} bytes; imports take at most {settings.import_max_bytes:,}."
        )
    try:
        inspection = formats.inspect(
            head,
            format_name=options["format"],
            encoding=options["encoding"],
            mapping=options["mapping"],
            complete=size <= formats.HEAD_BYTES,
        )
    except FileProblem as problem:
        raise BadImport(str(problem)) from None
    with get_db().transaction() as session:
        job = jobs.create(
            session,
            upload.stream,
            inspection,
            filename=_filename(upload.filename),
            on_duplicate=options["on_duplicate"],
            dry_run=options["dry_run"],
            by=current_username(),
        )
        body = jobs.as_json(job)
    runner.wake_worker()
    location = url_for("transfer.get_import", import_id=body["id"])
    return json_response(body, 202, {"Location": location})


@transfer_api.get(
    "/imports",
    tags=[imports_tag],
    responses={
        200: JOB_PAGE,
        **problems(401, 403),
    },
    security=bearer,
)
def list_imports(query: PageQuery) -> Response:
    """Import jobs, newest first (librarians, administrators)."""
    with get_db().read() as session:
        items, page, total = jobs.listing(session, limit=query.limit, cursor=query.cursor)
        body = [jobs.as_json(job) for job in items]
    return page_response(body, total, page, "transfer.list_imports", query)


@transfer_api.get(
    "/imports/<int:import_id>",
    tags=[imports_tag],
    responses={200: JOB_ANSWER, **problems(401, 403, 404)},
    security=bearer,
)
def get_import(path: ImportPath) -> Response:
    """An import's state and progress: rows done and total, counts, rate, ETA, the first rows
    as mapped (librarians, administrators)."""
    with get_db().read() as session:
        return json_response(jobs.as_json(jobs.get(session, path.import_id)))


@transfer_api.post(
    "/imports/<int:import_id>/cancel",
    tags=[imports_tag],
    responses={202: JOB_ANSWER, **problems(401, 403, 404, 409)},
    security=bearer,
)
@no_json_body
def cancel_import(path: ImportPath) -> Response:
    """Cancel an import; the batches it committed stay (409 when it has already finished)."""
    with get_db().transaction() as session:
        body = jobs.as_json(jobs.cancel(session, path.import_id))
    return json_response(body, 202)


class NoRejects(NotFound):
    type = "/problems/no-rejects"
    title = "No rejected rows"


def _rejected_rows(db: Database, job_id: int) -> Iterator[tuple[bytes, str]]:
    last = 0
    while True:
        with db.read() as session:
            page = session.execute(
                select(ImportReject.row, ImportReject.original, ImportReject.reason)
                .where(ImportReject.job_id == job_id, ImportReject.row > last)
                .order_by(ImportReject.row)
                .limit(1000)
            ).all()
        if not page:
            return
        for row in page:
            yield row.original, row.reason
        last = page[-1].row


@transfer_api.get(
    "/imports/<int:import_id>/rejects",
    tags=[imports_tag],
    responses={
        200: {"description": "The rejected rows in the file's format, with the reasons"},
        **problems(401, 403, 404),
    },
    security=bearer,
)
def import_rejects(path: ImportPath) -> Response:
    """The rejected rows as they were in the file plus a reason (CSV: a reason column; JSON: a
    _reason member; MARC: a 999 $a), to fix and import again as they are."""
    db = get_db()
    with db.read() as session:
        job = jobs.get(session, path.import_id)
        if not jobs.has_rejects(session, job.id):
            raise NoRejects(f"Import {job.id} has no rejected rows.")
        fmt, header, filename = job.format, job.header, job.filename
    media, extension = formats.rejects_media(fmt)
    stem = filename.rsplit(".", 1)[0] or "import"
    body = formats.rejects(fmt, header, _rejected_rows(db, path.import_id))
    return Response(
        body,
        mimetype=None,
        content_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{stem}-rejects.{extension}"'.replace(
                "\\", "_"
            ),
        },
    )


@transfer_api.get(
    "/books/export",
    tags=[export_tag],
    responses={
        200: {
            "description": "The books, as a file (streamed)",
            "headers": {"Content-Disposition": header("attachment; filename=...")},
        },
        **problems(422),
    },
)
def export_books(query: ExportQuery) -> Response:
    """Export the catalog (public, like GET /books) in a file format, with the same filters and
    sort orders as GET /books (``limit`` and ``cursor`` are not used: every match is in it)."""
    filters = listing.Filters.of(query.model_dump())
    spec = FORMATS[query.format]
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    pages = export.pages(get_db(), filters, query.sort, export_writers.READS[spec.name])
    # The first page is read before the answer starts: a database that is down is a 503, not
    # a 200 that breaks off.
    first = next(pages, None)
    every = itertools.chain([first] if first is not None else [], pages)
    return Response(
        stream_with_context(export_writers.WRITERS[spec.name](every)),
        content_type=spec.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="estante-{stamp}.{spec.extension}"',
            "Cache-Control": "no-store",
        },
    )
