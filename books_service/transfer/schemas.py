"""The HTTP shapes of imports, for the OpenAPI document: the job resource and its preview."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

JOB_EXAMPLE: dict[str, Any] = {
    "id": 7,
    "state": "running",
    "dry_run": False,
    "format": "goodreads",
    "encoding": "utf-8",
    "filename": "goodreads_library_export.csv",
    "on_duplicate": "skip",
    "rows_total": 1000,
    "rows_done": 400,
    "created": 390,
    "updated": 0,
    "skipped": 5,
    "rejected": 5,
    "rate": 12000.5,
    "eta_seconds": 0.1,
    "error": None,
    "created_by": "alice",
    "created_at": "2026-12-02T17:00:00Z",
    "started_at": "2026-12-02T17:00:01Z",
    "finished_at": None,
    "preview": [
        {
            "row": 1,
            "action": "create",
            "book": {"title": "Dune", "author": "Frank Herbert", "isbn": "9780441172719"},
            "reason": None,
        },
        {
            "row": 2,
            "action": "reject",
            "book": {"author": "Nobody"},
            "reason": "title: Field required",
        },
    ],
    "indexes_deferred": False,
}


class PreviewRow(BaseModel):
    row: int = Field(description="The row's number in the file (1 is the first after a header)")
    action: Literal["create", "update", "skip", "reject"]
    book: dict[str, Any] | None = Field(description="The row as mapped to Estante's fields")
    reason: str | None = Field(description="Why it is skipped or rejected")


class ImportJobOut(BaseModel):
    """An import job: what was asked, how far it got."""

    model_config = ConfigDict(json_schema_extra={"examples": [JOB_EXAMPLE]})

    id: int
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    dry_run: bool
    format: str
    encoding: str = Field(description="As detected or given ('marc': each record says)")
    filename: str
    on_duplicate: Literal["skip", "update", "add"]
    rows_total: int | None = Field(description="Null until the file has been counted")
    rows_done: int = Field(description="Rows processed; the next batch starts after them")
    created: int
    updated: int
    skipped: int
    rejected: int
    rate: float | None = Field(description="Rows per second")
    eta_seconds: float | None = Field(description="Null when unknown")
    error: str | None
    created_by: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    preview: list[PreviewRow] = Field(description="The first rows (at most 10) as mapped")
    indexes_deferred: bool = Field(
        description=(
            "The import left the indexes of the title, author and publisher orders and of the "
            "author filter out while it ran (a large import does): until it ends, those lists "
            "are slower, never different"
        )
    )


class ImportJobList(RootModel[list[ImportJobOut]]):
    """A page of import jobs, newest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [[JOB_EXAMPLE]]})
