"""Response bodies of the Books Service: a book as clients read it, a page of books, a book's
history."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from books_service.schemas.examples import BOOK_EXAMPLE, HISTORY_EXAMPLE


class BookOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [BOOK_EXAMPLE]})

    id: int
    title: str
    subtitle: str | None
    author: str
    authors: list[str]
    isbn: str | None = Field(description="ISBN-13")
    isbn_10: str | None = Field(description="The ISBN-10, when the ISBN-13 starts with 978")
    publisher: str | None
    published_year: int | None
    published_date: str | None
    language: str | None
    page_count: int | None
    subjects: list[str]
    description: str | None
    cover_url: str | None
    series: str | None
    series_index: float | None
    copies: int
    version: int = Field(description="1 when added, bumped by every change; the ETag names it")
    created_at: str = Field(description="UTC, ISO 8601")
    created_by: str
    updated_at: str = Field(description="UTC, ISO 8601")
    updated_by: str | None
    deleted_at: str | None = Field(None, description="Only in the administrators' views")
    deleted_by: str | None = Field(None, description="Only in the administrators' views")


class BookList(RootModel[list[BookOut]]):
    """The spec's answer to GET /books: a JSON array of books (now one page of them)."""

    model_config = ConfigDict(json_schema_extra={"examples": [[BOOK_EXAMPLE]]})


class HistoryEntry(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": HISTORY_EXAMPLE})

    version: int = Field(description="The book's version after this change")
    action: Literal["created", "updated", "deleted", "restored"]
    changed_at: str = Field(description="UTC, ISO 8601")
    changed_by: str
    changes: dict[str, dict[str, Any]] = Field(
        description='{"field": {"from": old, "to": new}} for each field that changed'
    )
    origin: dict[str, Any] | None = Field(
        None,
        description='Only for changes an import made: {"import": id, "file": name, "row": n}',
    )


class History(RootModel[list[HistoryEntry]]):
    """A book's changes, oldest first (one page of them)."""

    model_config = ConfigDict(json_schema_extra={"examples": [HISTORY_EXAMPLE]})
