"""Imports (librarians, administrators): upload a file to the Books Service's ``POST /imports``,
follow the job with a progress bar (htmx polls a fragment while it runs), see a dry run's
preview, cancel, and download the rejected rows."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from web_service.api_client import ApiProblem, next_and_prev
from web_service.views.catalog import catalog_written
from web_service.views.support import WRITERS, books_api, page_params, require_user, with_token

imports = Blueprint("imports", __name__, url_prefix="/imports")
FORMATS = (
    "auto",
    "estante-csv",
    "estante-json",
    "estante-jsonl",
    "goodreads",
    "librarything",
    "storygraph",
    "calibre",
    "marc",
    "marcxml",
    "csv",
)
ON_DUPLICATE = ("skip", "update", "add")
RUNNING = ("queued", "running")
UPLOAD_TIMEOUT = 600.0


def unavailable(problem: ApiProblem) -> bool:
    """A Books Service without imports (older than them) answers 404 or 405 to /imports."""
    return problem.status in (404, 405) and problem.type in ("about:blank", "")


def render_index(status: int = 200, **extra: Any) -> tuple[str, int]:
    jobs: list[dict[str, Any]] = []
    cursors: dict[str, str] = {}
    available = True
    try:
        response = with_token(books_api(), "GET", "/imports", params=page_params(20))
        jobs, cursors = response.json(), next_and_prev(response)
    except ApiProblem as problem:
        if not unavailable(problem):
            raise
        available = False
    return (
        render_template(
            "imports/index.html",
            jobs=jobs,
            cursors=cursors,
            available=available,
            formats=FORMATS,
            on_duplicate=ON_DUPLICATE,
            form=request.form if request.method == "POST" else {},
            **extra,
        ),
        status,
    )


@imports.get("")
@require_user(*WRITERS)
def index() -> tuple[str, int]:
    return render_index()


@imports.post("")
@require_user(*WRITERS)
def upload() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_index(400, field_errors={"file": ["missing"]})
    fields = {
        "format": request.form.get("format", "auto"),
        "on_duplicate": request.form.get("on_duplicate", "skip"),
        "dry_run": "true" if request.form.get("dry_run") else "false",
    }
    if fields["format"] not in FORMATS or fields["on_duplicate"] not in ON_DUPLICATE:
        abort(400)
    if fields["format"] == "auto":
        del fields["format"]
    content_type = upload.mimetype or "application/octet-stream"
    try:
        response = with_token(
            books_api(),
            "POST",
            "/imports",
            data=fields,
            files={"file": (upload.filename, upload.stream, content_type)},
            timeout=UPLOAD_TIMEOUT,
        )
    except ApiProblem as problem:
        if problem.status in (400, 413, 415, 422):
            return render_index(problem.status, problem=problem)
        if unavailable(problem):
            return render_index(404)
        raise
    job = response.json()
    return redirect(url_for("imports.job", import_id=job["id"]), code=303)


def fetch_job(import_id: int) -> dict[str, Any]:
    try:
        job: dict[str, Any] = with_token(books_api(), "GET", f"/imports/{import_id}").json()
    except ApiProblem as problem:
        if problem.status == 404:
            abort(404)
        raise
    if job.get("state") not in RUNNING:
        catalog_written()  # its books are in: the catalog this browser sees next shows them
    return job


@imports.get("/<int:import_id>")
@require_user(*WRITERS)
def job(import_id: int) -> str:
    return render_template("imports/job.html", job=fetch_job(import_id), running=RUNNING)


@imports.get("/<int:import_id>/status")
@require_user(*WRITERS)
def status(import_id: int) -> str:
    """The progress fragment htmx polls while the job runs."""
    return render_template("imports/_status.html", job=fetch_job(import_id), running=RUNNING)


@imports.post("/<int:import_id>/cancel")
@require_user(*WRITERS)
def cancel(import_id: int) -> BaseResponse:
    try:
        with_token(books_api(), "POST", f"/imports/{import_id}/cancel")
    except ApiProblem as problem:
        if problem.status == 404:
            abort(404)
        if problem.status != 409:  # finished meanwhile: the page shows how
            raise
    return redirect(url_for("imports.job", import_id=import_id), code=303)


@imports.get("/<int:import_id>/rejects")
@require_user(*WRITERS)
def rejects(import_id: int) -> Response:
    try:
        answer = with_token(books_api(), "GET", f"/imports/{import_id}/rejects")
    except ApiProblem as problem:
        if problem.status == 404:
            abort(404)
        raise
    headers = {"Content-Disposition": answer.headers.get("Content-Disposition", "attachment")}
    return Response(
        answer.content,
        content_type=answer.headers.get("Content-Type", "application/octet-stream"),
        headers=headers,
    )
