"""Request and response bodies of the Books Service (they also generate its OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, RootModel

from books_service.models import AUTHOR_MAX, TITLE_MAX
from common.text import line

Title = line(TITLE_MAX)
Author = line(AUTHOR_MAX)


class BookIn(BaseModel):
    """A book as a client sends it (POST and PUT)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    title: Title = Field(examples=["Novo Livro"])  # type: ignore[valid-type]
    author: Author = Field(examples=["Autor Desconhecido"])  # type: ignore[valid-type]


class BookOut(BaseModel):
    id: int
    title: str
    author: str
    created_at: str = Field(description="UTC, ISO 8601")
    updated_at: str = Field(description="UTC, ISO 8601")
    created_by: str


class BookList(RootModel[list[BookOut]]):
    """The spec's answer to GET /books: a JSON array of books."""


class BookPath(BaseModel):
    # No range check here: an id that cannot exist is simply not found (404), not invalid.
    book_id: int
