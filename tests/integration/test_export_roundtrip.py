"""Export, then import into an empty instance: the same catalog, every field compared. Estante's
own formats hold every field, for all 10,000 generated books; Calibre and MARC hold what they
can, compared on the books an export filtered by language gives (about 2,000: the export's
filters are tested on the way). One slow scenario, run once: from SQLite to PostgreSQL."""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import text

from books_service.records import EDITABLE_FIELDS
from common.db import create_db_engine
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


def generated_books(n: int, seed: int = 11) -> list[dict[str, Any]]:
    """Books using every field, with the awkward values real catalogs have: accents, other
    scripts, several authors, 979 ISBNs, formulas, quotes, commas and new lines."""
    rng = random.Random(seed)
    words = ["livro", "São", "Ævar", "naïve", "quoted \"word\"", "comma, here", "日本語", "Łódź",
             "=SUM(1)", "-minus", "+plus", "@at", "ordinary", "Über", "ñandú"]  # fmt: skip
    names = ["Ana Souza", "José Saramago", "Clarice Lispector", "Chimamanda Adichie", "李白",
             "Neil Gaiman", "Terry Pratchett", "-Dash Name", "Maria de Fátima"]  # fmt: skip
    books = []
    for i in range(n):
        book: dict[str, Any] = {
            "id": i + 1,
            "title": f"{rng.choice(words).strip('-+=@')} {i} {rng.choice(words)}".strip(),
            "authors": rng.sample(names, rng.choice((1, 1, 1, 2, 3))),
            "copies": rng.randint(0, 9),
        }
        if i % 10 < 7:
            body = f"9791{i:08d}" if i % 10 == 0 else f"978{i:09d}"  # 979-0 is music
            total = sum((1 if k % 2 == 0 else 3) * int(d) for k, d in enumerate(body))
            book["isbn"] = body + str((10 - total % 10) % 10)
        if i % 3 == 0:
            book["subtitle"] = f"a {rng.choice(words)} subtitle"
        if i % 2 == 0:
            book["publisher"] = f"Editora {rng.choice(words)}"
        if i % 4 == 0:
            book["published_date"] = (
                f"{rng.randint(1500, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(2, 28):02d}"
            )
        elif i % 4 == 1:
            book["published_year"] = rng.randint(1000, 2025)
        if i % 5 == 0:
            book["page_count"] = rng.randint(1, 2000)
        book["language"] = rng.choice([None, "pt", "en", "fr", "ja"])
        book["subjects"] = rng.sample(
            ["Romance", "Poesia", "História", "Ciência"], rng.randint(0, 2)
        )
        if i % 6 == 0:
            book["description"] = f"First {rng.choice(words)}.\n\nSecond paragraph {i}."
        if i % 7 == 0:
            book["series"] = f"Série {rng.choice(words)}"
            book["series_index"] = rng.choice([1.0, 2.0, 2.5, 10.0])
        if i % 8 == 0:
            book["cover_url"] = f"https://covers.example.org/{i}.jpg"
        books.append({k: v for k, v in book.items() if v is not None})
    return books


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
    data = "\n".join(json.dumps(b, ensure_ascii=False) for b in generated_books(BOOKS)).encode()
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
