"""The export's output, byte for byte, and what it holds: every format's file for a catalog of
generated books with every field and the awkward values real catalogs have is the file the
first (slower, ORM-free-but-generic) implementation wrote, kept as golden files under
tests/fixtures/export/; an export holds exactly the books GET /books lists for the same filters
and order, never a deleted one; and the export reads the catalog a page at a time."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymarc
import pytest
from sqlalchemy import DateTime, event, literal, select, update

from books_service import catalog, listing
from books_service.book_rules import validate_book
from books_service.models import Book
from books_service.transfer import export, export_writers, marc
from books_service.transfer.formats import EXPORT_FORMATS
from common import migrations
from common.db import Database
from tests.support.awkward_books import Values, generated_books
from tests.support.databases import new_books_url

GOLDEN = Path(__file__).parent.parent / "fixtures" / "export"
BOOKS = 240
DELETED = (5, 17, 100)
START = datetime(2024, 2, 29, 23, 59, 58, tzinfo=UTC)


# Every value a writer treats apart: formulas, quotes, commas, semicolons, brackets, HTML, new
# lines, negative years, dates of a year and a month, a three-letter language.
VALUES = Values(
    words=("livro", "São", "Ævar", "naïve", 'quoted "word"', "comma, here", "日本語", "Łódź",
           "=SUM(1)", "-minus", "+plus", "@at", "<b>&amp;</b>", "Über", "ñandú", "a;b",
           "[bracket", "'quote", "x&y"),
    names=("Ana Souza", "José Saramago", "Clarice Lispector", "李白", "-Dash Name",
           "=Formula Name", "Maria de Fátima", "O'Brien"),
    author_counts=(1, 1, 2, 3),
    languages=(None, "pt", "en", "fr", "ja", "yue"),
    subjects=("Romance", "Poesia", "História", "a;b", "-x"),
    series_indexes=(1.0, 2.0, 2.5, 10.0, 0.125),
    earliest_year=-500,
    earliest_day=1,
    month_dates=True,
    description="First {word}.\n\nSecond <p> {i}.\nThird line.",
    cover_query="?a=1&b=2",
)  # fmt: skip


def fill(url: str) -> Database:
    """The generated catalog, with fixed times (some on a whole second) and a few deleted."""
    database = Database(url)
    with database.transaction() as session:
        for record in map(validate_book, generated_books(BOOKS, 3, VALUES)):
            catalog.add_book(session, record, by="golden", allow_duplicate=True)
    with database.transaction() as session:
        for book_id in DELETED:
            catalog.delete_book(session, book_id, by="golden")
        for book_id in range(1, BOOKS + 1):
            created = START + timedelta(seconds=book_id * 3607, microseconds=(book_id % 3) * 12345)
            session.execute(
                update(Book)
                .where(Book.id == book_id)
                .values(created_at=created, updated_at=created + timedelta(days=book_id % 5))
            )
    return database


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """One catalog per database for the module (no test changes it)."""
    url = new_books_url(request, "export")
    migrations.upgrade("books", url)
    db = fill(url)
    yield db
    db.dispose()


def golden(name: str) -> bytes:
    path = GOLDEN / f"{name}.gz"
    return gzip.decompress(path.read_bytes())


def exported(
    db: Database, name: str, filters: listing.Filters | None = None, sort: str | None = None
) -> bytes:
    pages = export.pages(db, filters or listing.Filters(), sort, export_writers.READS[name])
    return b"".join(export_writers.WRITERS[name](pages))


@pytest.mark.parametrize("name", EXPORT_FORMATS)
def test_every_format_writes_the_file_the_first_implementation_wrote(
    database: Database, name: str
) -> None:
    assert exported(database, name) == golden(name)


@pytest.mark.parametrize("name", EXPORT_FORMATS)
def test_a_catalog_larger_than_a_page_is_written_whole(
    database: Database, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "PAGE", 7)
    assert exported(database, name) == golden(name)


# Times with no fraction, trailing zeros in it, six digits, and the edge years.
MOMENTS = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 58, 120000, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 58, 1, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 58, 100, tzinfo=UTC),
]


def test_a_time_as_the_database_writes_it_is_written_as_get_books_writes_it(
    database: Database,
) -> None:
    """The export reads the times as the database's text (PostgreSQL's drops a fraction's
    trailing zeros): each still becomes GET /books's form."""
    dialect = database.engine.dialect.name
    times = [export.time_text(dialect, literal(m, DateTime(timezone=True))) for m in MOMENTS]
    with database.read() as session:
        if dialect != "sqlite":
            export.iso_dates(session)
        texts = session.execute(select(*times)).one()
    assert [export.iso_time(text) for text in texts] == [
        m.isoformat().replace("+00:00", "Z") for m in MOMENTS
    ]


def test_the_export_writes_the_same_times_whatever_the_connections_date_style(
    database: Database,
) -> None:
    """PostgreSQL writes a time's text in the session's DateStyle, which a server, database or
    client may set: the export sets its own."""
    if database.engine.dialect.name == "sqlite":
        pytest.skip("SQLite's times are read as stored")
    other = Database(database.url)

    @event.listens_for(other.engine, "connect")
    def german(connection: object, _record: object) -> None:
        connection.execute("SET DateStyle = 'German, DMY'")  # type: ignore[attr-defined]
        connection.commit()  # type: ignore[attr-defined]

    try:
        with other.read() as session:
            shown = session.connection().exec_driver_sql("SHOW DateStyle").scalar()
        assert shown == "German, DMY"
        assert exported(other, "estante-json") == golden("estante-json")
        assert exported(other, "marc") == golden("marc")
    finally:
        other.dispose()


def listed_ids(db: Database, filters: listing.Filters, sort: str | None) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        with db.read() as session:
            page = listing.list_books(session, filters, sort=sort, limit=13, cursor=cursor)
        ids += [book["id"] for book in page.books]
        if page.page.next is None:
            return ids
        cursor = page.page.next.encode()


FILTERED = [
    (listing.Filters(), None),
    (listing.Filters(), "-title"),
    (listing.Filters(author="jose saramago"), "author"),
    (listing.Filters(language="pt"), "-published_year"),
    (listing.Filters(subject="poesia", year_from=1000), "created_at"),
    (listing.Filters(publisher="Editora São"), "-updated_at"),
    (listing.Filters(q="livro"), None),
    (listing.Filters(q="livro ana", language="en"), "relevance"),
    (listing.Filters(q="livro"), "title"),
    (listing.Filters(q="!!!"), None),
    (listing.Filters(isbn="9780000000017"), None),
]


@pytest.mark.parametrize(("filters", "sort"), FILTERED)
def test_an_export_holds_what_the_listing_lists_in_its_order_and_no_deleted_book(
    database: Database, filters: listing.Filters, sort: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "PAGE", 11)
    rows = [row for page in export.pages(database, filters, sort) for row in page]
    ids = [row[export.AT["id"]] for row in rows]
    assert ids == listed_ids(database, filters, sort)
    assert not set(ids) & set(DELETED)
    if filters == listing.Filters() and sort is None:
        assert len(ids) == BOOKS - len(DELETED)


def test_the_export_reads_a_page_at_a_time(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Constant memory: the writer is handed the next page only when the file has been taken
    up to there (on PostgreSQL one more page is being read meanwhile: two at most)."""
    monkeypatch.setattr(export, "PAGE", 10)
    reads: list[int] = []
    pages = export.pages(database, listing.Filters(), None)

    def counted() -> Iterator[list[export.Row]]:
        for page in pages:
            reads.append(len(page))
            yield page

    pieces = export_writers.write_jsonl(counted())
    next(pieces)
    assert reads == [10]
    next(pieces)
    assert reads == [10, 10]
    assert sum(1 for _ in pieces) + 2 == -(-(BOOKS - len(DELETED)) // 10)
    assert max(reads) == 10


def test_pymarc_reads_the_same_records_from_the_marc_and_the_marcxml_export(
    database: Database,
) -> None:
    binary = list(pymarc.MARCReader(io.BytesIO(exported(database, "marc")), to_unicode=True))
    xml = pymarc.parse_xml_to_array(io.BytesIO(exported(database, "marcxml")))
    assert len(binary) == len(xml) == BOOKS - len(DELETED)
    for one, other in zip(binary, xml, strict=True):
        assert one is not None
        assert [str(f) for f in one.fields] == [str(f) for f in other.fields]


def test_a_record_too_long_for_iso_2709_loses_its_last_summary_paragraphs_as_before() -> None:
    paragraphs = "\n\n".join(f"Paragraph {n} " + "é" * 9000 for n in range(15))
    book = {
        "id": 9, "title": "Long", "subtitle": None, "author": "A", "authors": ["A"],
        "isbn": None, "publisher": None, "published_year": None, "published_date": None,
        "language": None, "page_count": None, "subjects": [], "description": paragraphs,
        "cover_url": None, "series": None, "series_index": None, "copies": 1, "version": 1,
        "created_at": "2026-01-02T03:04:05Z", "created_by": "a",
        "updated_at": "2026-01-02T03:04:05Z", "updated_by": None,
    }  # fmt: skip
    assert tuple(book) == export.NAMES
    row = tuple(
        json.dumps(book[name]) if name in ("authors", "subjects") else book[name]
        for name in export_writers.MARC_NAMES
    )
    written = b"".join(export_writers.write_marc([[row]]))
    assert written == b"".join(marc.write_binary([book]))
    assert len(written) <= marc.MAX_RECORD
    record = next(iter(pymarc.MARCReader(io.BytesIO(written), to_unicode=True)))
    assert record["245"]["a"] == "Long"
    assert b"".join(export_writers.write_marcxml([[row]])) == b"".join(marc.write_xml([book]))
