"""Export, then import into an empty instance: the same catalog, every field compared. Estante's
own formats hold every field, for all 10,000 generated books; Calibre and MARC hold what they
can, compared on the books an export filtered by language gives (about 2,000: the export's
filters are tested on the way). One slow scenario, run once: from SQLite to PostgreSQL."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import text

from books_service.records import EDITABLE_FIELDS
from common.db import create_db_engine
from tests.support.awkward_books import Values, generated_books
from tests.support.clients import bearer
from tests.support.harness import Stack, all_books, start_stack

BOOKS = 10_000
ESTANTE = EDITABLE_FIELDS
CALIBRE = ("title", "authors", "isbn", "publisher", "language", "subjects", "series",
           "series_index", "published_year", "published_date", "description")  # fmt: skip
MARC = (*CALIBRE, "subtitle", "page_count", "copies", "cover_url")
# Formats, the fields they hold, and the filter of their export.
HELD = {
    "estante-csv": ESTANTE,
    "estante-json": ESTANTE,
    "estante-jsonl": ESTANTE,
    "calibre": CALIBRE,
    "marc": MARC,
    "marcxml": MARC,
}
RESET = (
    "DELETE FROM import_rejects",
    "DELETE FROM import_chunks",
    "DELETE FROM import_jobs",
    "DELETE FROM book_sources",
    "DELETE FROM book_history",
    "DELETE FROM book_authors",
    "DELETE FROM book_subjects",
    "DELETE FROM books",
    "UPDATE book_counts SET live = 0",
)


VALUES = Values(
    words=("livro", "São", "Ævar", "naïve", 'quoted "word"', "comma, here", "日本語", "Łódź",
           "=SUM(1)", "-minus", "+plus", "@at", "ordinary", "Über", "ñandú"),
    names=("Ana Souza", "José Saramago", "Clarice Lispector", "Chimamanda Adichie", "李白",
           "Neil Gaiman", "Terry Pratchett", "-Dash Name", "Maria de Fátima"),
    author_counts=(1, 1, 1, 2, 3),
    languages=(None, "pt", "en", "fr", "ja"),
    subjects=("Romance", "Poesia", "História", "Ciência"),
    series_indexes=(1.0, 2.0, 2.5, 10.0),
    earliest_year=1000,
    earliest_day=2,
    month_dates=False,
    description="First {word}.\n\nSecond paragraph {i}.",
    cover_query="",
)  # fmt: skip


def reset(stack: Stack) -> None:
    engine = create_db_engine(stack.database_url("books"))
    with engine.begin() as connection:
        for statement in RESET:
            connection.execute(text(statement))
    engine.dispose()


def imported(stack: Stack, headers: dict[str, str], data: bytes, name: str) -> dict[str, Any]:
    response = requests.post(
        f"{stack.books_url}/imports",
        headers=headers,
        files={"file": (name, io.BytesIO(data))},
        timeout=120,
    )
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        job = requests.get(
            f"{stack.books_url}{response.headers['Location']}", headers=headers, timeout=10
        ).json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"the import of {name} did not finish")


@pytest.fixture
def source_and_target(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Stack, Stack]]:
    request.param = "sqlite"  # type: ignore[attr-defined]
    source = start_stack(request, tmp_path / "source")
    request.param = "postgres"  # type: ignore[attr-defined]
    try:
        target = start_stack(request, tmp_path / "target")
    except BaseException:
        source.stop()
        raise
    yield source, target
    target.stop()
    source.stop()


def by_title(books: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {book["title"]: book for book in books}


def test_export_then_import_into_an_empty_instance_gives_the_same_catalog(
    source_and_target: tuple[Stack, Stack],
) -> None:
    source, target = source_and_target
    books = [{"id": i + 1, **book} for i, book in enumerate(generated_books(BOOKS, 11, VALUES))]
    data = "\n".join(json.dumps(b, ensure_ascii=False) for b in books).encode()
    job = imported(source, bearer(source.token()), data, "generated.jsonl")
    assert (job["state"], job["created"], job["rejected"]) == ("succeeded", BOOKS, 0), job
    catalog = by_title(all_books(source.books_url))
    assert len(catalog) == BOOKS
    headers = bearer(target.token())
    portuguese = sum(1 for book in catalog.values() if book["language"] == "pt")
    for name, fields in HELD.items():
        narrow = name not in ("estante-csv", "estante-json", "estante-jsonl")
        export = requests.get(
            f"{source.books_url}/books/export",
            params={"format": name, **({"language": "pt"} if narrow else {})},
            timeout=120,
        )
        assert export.status_code == 200
        expected_count = portuguese if narrow else BOOKS
        job = imported(target, headers, export.content, f"export.{name}")
        assert (job["format"], job["created"], job["rejected"]) == (name, expected_count, 0), job
        copies = all_books(target.books_url)
        assert len(copies) == expected_count
        for copy in copies:
            title = copy["title"]
            if name == "calibre":  # no subtitles in Calibre: "Title: Subtitle"
                title = next(t for t in (title, title.split(": a ")[0]) if t in catalog)
            original = catalog[title]
            expected = {f: original[f] for f in fields}
            if name == "calibre" and original["subtitle"]:
                expected["title"] = f"{original['title']}: {original['subtitle']}"
            if name == "calibre" and not original["series"]:
                expected["series_index"] = None
            assert {f: copy[f] for f in fields} == expected, name
        reset(target)
