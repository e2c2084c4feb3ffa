"""The import and export formats without HTTP: every fixture file (written from the formats'
column lists, with their quirks) is recognised and read into the fields expected; bad files are
refused before any job exists; what Estante writes reads back as it was."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pymarc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from books_service.records import EDITABLE_FIELDS
from books_service.transfer import calibre, csvfile, estante, formats, marc
from books_service.transfer.rows import FileProblem, Row, neutralise, unneutralise
from books_service.transfer.rules import InvalidRow, validate_book

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
MAPPING = {
    "Titel": "title",
    "Verfasser": "author",
    "Jahr": "published_year",
    "Schlagworte": "subjects",
    "Nummer": "source_id",
}


def read(name: str, **options: Any) -> tuple[formats.Inspection, list[Row]]:
    data = (FIXTURES / name).read_bytes()
    inspection = formats.inspect(data, complete=True, **options)
    spec = formats.FORMATS[inspection.format]
    return inspection, list(spec.read(io.BytesIO(data), inspection.encoding, inspection.mapping))


SUBSET = ("title", "series", "series_index", "isbn", "publisher", "page_count")
SUBSET += ("published_year", "subjects", "authors", "copies")


def subset(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in SUBSET}


def book(row: Row) -> dict[str, Any]:
    assert row.error is None and row.fields is not None, row.error
    return validate_book(row.fields)


def test_goodreads_formula_isbns_series_in_titles_and_several_authors() -> None:
    inspection, rows = read("goodreads_library_export.csv")
    assert (inspection.format, inspection.encoding) == ("goodreads", "utf-8")
    dune, omens, prince, broken = rows
    assert subset(book(dune)) == {
        "title": "Dune",
        "series": "Dune Chronicles",
        "series_index": 1.0,
        "isbn": "9780441172719",
        "publisher": "Ace Books",
        "page_count": 604,
        "published_year": 1990,
        "subjects": ["science-fiction", "favorites"],
        "authors": ["Frank Herbert"],
        "copies": 1,
    }
    assert dune.source_id == "234225"
    assert book(omens)["authors"] == ["Terry Pratchett", "Neil Gaiman"]
    assert book(omens)["isbn"] is None  # =""
    assert book(prince)["isbn"] == "9791032705469"  # a 979 ISBN
    with pytest.raises(InvalidRow, match="isbn"):
        validate_book(broken.fields or {})


def test_an_older_goodreads_export_with_a_blank_line() -> None:
    inspection, rows = read("goodreads_old_export.csv")
    assert inspection.format == "goodreads"
    assert [book(r)["title"] for r in rows] == ["Dune", "Le Petit Prince"]
    assert [r.number for r in rows] == [1, 2]


def test_librarything_windows_1252_tabs_and_brackets() -> None:
    inspection, rows = read("librarything_export.tsv")
    assert (inspection.format, inspection.encoding) == ("librarything", "cp1252")
    dune, hadrien = (book(r) for r in rows)
    assert dune["isbn"] == "9780441172719" and dune["publisher"] == "Ace"
    assert dune["language"] == "en" and dune["copies"] == 2 and dune["page_count"] == 544
    assert dune["subjects"] == ["Science fiction", "Deserts"]
    assert hadrien["title"] == "Mémoires d’Hadrien" and hadrien["published_year"] == 1951
    assert hadrien["authors"] == ["Yourcenar, Marguerite", "Frick, Grace"]


def test_storygraph_uid_is_an_isbn_only_when_it_is_one() -> None:
    inspection, rows = read("storygraph_export.csv")
    assert inspection.format == "storygraph"
    piranesi, fan = rows
    assert book(piranesi)["isbn"] == "9781635575637"
    assert book(fan)["isbn"] is None and fan.source_id.startswith("f3c1a9e0")
    assert book(fan)["authors"] == ["A. Writer", "B. Writer"]


def test_calibre_bom_ampersand_authors_html_comments_identifiers() -> None:
    inspection, rows = read("calibre_catalog.csv")
    assert (inspection.format, inspection.encoding) == ("calibre", "utf-8-sig")
    omens, magic = (book(r) for r in rows)
    assert omens["authors"] == ["Neil Gaiman", "Terry Pratchett"]
    assert omens["description"] == (
        "The world will end on Saturday.\n\nNext Saturday, in fact & before tea."
    )
    assert omens["published_date"] == "2006-11-28" and omens["language"] == "en"
    assert magic["isbn"] == "9780062225672"  # from identifiers
    assert magic["published_year"] is None  # 0101-01-01 is Calibre's "no date"
    assert (magic["series"], magic["series_index"]) == ("Discworld", 1.0)


@pytest.mark.parametrize("name", ["library_records.mrc", "library_records.xml"])
def test_marc_fields_without_isbd_punctuation(name: str) -> None:
    inspection, rows = read(name)
    assert inspection.format == ("marc" if name.endswith(".mrc") else "marcxml")
    casmurro, omens, untitled = rows
    record = book(casmurro)
    assert record["title"] == "Dom Casmurro" and record["subtitle"] == "romance"
    assert record["authors"] == ["Assis, Machado de"]
    assert record["isbn"] == "9788535902778"  # ISBN-10 with "(pbk.)"
    assert record["publisher"] == "Companhia das Letras" and record["published_year"] == 1997
    assert record["page_count"] == 256 and record["language"] == "pt"
    assert (record["series"], record["series_index"]) == ("Clássicos brasileiros", 3.0)
    assert record["subjects"] == ["Romance brasileiro", "Ciúme"]
    assert casmurro.source_id == "ocm0001"
    assert book(omens)["authors"] == ["Gaiman, Neil", "Pratchett, Terry"]
    assert book(omens)["published_date"] == "2014-05"
    with pytest.raises(InvalidRow, match="title"):
        validate_book(untitled.fields or {})


def test_a_spreadsheet_with_a_mapping() -> None:
    inspection, rows = read("spreadsheet.csv", format_name="csv", mapping=MAPPING)
    assert inspection.format == "csv" and inspection.mapping == MAPPING
    process, stray, bad_year = rows
    assert book(process)["subjects"] == ["Roman"] and process.source_id == "A-1"
    assert "6 cells" in (stray.error or "")
    assert "published_year" in (bad_year.error or "")


def test_estante_json_and_lines_keep_going_past_a_bad_element() -> None:
    _, rows = read("estante_books.json")
    assert [r.error for r in rows] == [None, None, "not a JSON object"]
    assert book(rows[0])["isbn"] == "9788535902778" and rows[0].source_id == "1"
    _, lines = read("estante_books.jsonl")
    assert [r.number for r in lines] == [1, 2, 3]  # the blank line is not a row
    assert book(lines[1])["title"] == "=SUM(A1:A2)"


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        (b"", {}, "empty"),
        (b"  \r\n\r\n", {}, "empty"),
        (bytes(range(256)) * 40, {}, "binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", {}, "binary"),
        (
            (FIXTURES / "goodreads_library_export.csv").read_bytes(),
            {"format_name": "calibre"},
            "not a calibre",
        ),
        (
            (FIXTURES / "goodreads_library_export.csv").read_bytes(),
            {"format_name": "marc"},
            "not binary MARC",
        ),
        (
            (FIXTURES / "goodreads_library_export.csv").read_bytes(),
            {"format_name": "estante-json"},
            "JSON array",
        ),
        ("Título,Autor\r\nÉ,Ó\r\n".encode("cp1252"), {"encoding": "utf-8"}, "not valid utf-8"),
        (b"a,b\r\n1,2\r\n", {"encoding": "klingon"}, "encoding"),
        ((",".join(f"c{i}" for i in range(10_000)) + "\r\n").encode(), {}, "10,000 columns"),
        (b"title,author\r\n" + b'"' + b"x" * (1024 * 1024) + b'",y\r\n', {}, "larger than"),
        (b"name,age\r\nann,3\r\n", {}, "not recognised"),
        (b"name,age\r\nann,3\r\n", {"format_name": "csv", "mapping": {"name": "titel"}}, "titel"),
        (b"name,age\r\nann,3\r\n", {"format_name": "csv", "mapping": {"nom": "title"}}, "nom"),
        (b"<html><body>hi</body></html>", {}, "MARCXML"),
        (b"<collection><record>", {"format_name": "marcxml"}, "well-formed"),
        (b"not json\n", {"format_name": "estante-jsonl"}, "JSON object"),
    ],
)
def test_bad_files_are_refused_with_a_reason(
    data: bytes, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(FileProblem, match=message):
        formats.inspect(data, complete=True, **options)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig"])
def test_unicode_encodings_are_recognised(encoding: str) -> None:
    text = (FIXTURES / "storygraph_export.csv").read_text(encoding="utf-8")
    data = text.encode(encoding)
    inspection = formats.inspect(data, complete=True)
    assert inspection.format == "storygraph"
    rows = list(formats.FORMATS["storygraph"].read(io.BytesIO(data), inspection.encoding, None))
    assert book(rows[0])["title"] == "Piranesi"


@given(st.text(max_size=20))
def test_neutralising_a_cell_is_undone_exactly(value: str) -> None:
    cell = neutralise(value)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert unneutralise(cell) == value


# --- Round trips of what Estante writes -------------------------------------------------------

_line = (
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Co", "Cn")),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(lambda s: s and not s.endswith(".") and ";" not in s and "&" not in s and "," not in s)
    # MARC reads " /", " :", " =" ending a subfield as ISBD punctuation, not as the value's.
    .filter(lambda s: not re.search(r"\s[/:=]$", s))
)
_valid_isbns = st.sampled_from([None, "9788535902778", "9791032705469", "9780441172719"])


@st.composite
def books(draw: st.DrawFn, *, rich: bool = True) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": draw(_line),
        "authors": draw(st.lists(_line, min_size=1, max_size=3, unique_by=str.casefold)),
        "isbn": draw(_valid_isbns),
        "publisher": draw(st.none() | _line),
        "page_count": draw(st.none() | st.integers(1, 100_000)),
        "language": draw(st.sampled_from([None, "pt", "en", "fr", "yue"])),
        "subjects": draw(st.lists(_line, max_size=3, unique_by=lambda s: s.casefold())),
        "series": draw(st.none() | _line),
        "copies": draw(st.integers(0, 1_000_000)),
    }
    fields["series_index"] = (
        draw(st.none() | st.floats(0, 100_000, allow_nan=False)) if fields["series"] else None
    )
    if rich:
        fields["subtitle"] = draw(st.none() | _line)
        fields["published_date"] = draw(st.sampled_from([None, "1899", "2001-02", "2020-12-31"]))
        fields["description"] = draw(
            st.none() | st.text(min_size=1, max_size=60).map(str.strip).filter(bool)
        )
        fields["cover_url"] = draw(st.sampled_from([None, "https://covers.example.org/a.jpg"]))
    try:
        record = validate_book({k: v for k, v in fields.items() if v is not None})
    except InvalidRow:
        from hypothesis import reject

        reject()
    return {"id": draw(st.integers(1, 10**6)), "created_at": "2026-01-02T03:04:05Z", **record}


def _read_back(name: str, data: bytes) -> list[dict[str, Any]]:
    inspection = formats.inspect(data, complete=True)
    assert inspection.format == name
    spec = formats.FORMATS[name]
    return [book(row) for row in spec.read(io.BytesIO(data), inspection.encoding, None)]


@settings(max_examples=25)
@given(st.lists(books(), min_size=1, max_size=4))
@pytest.mark.parametrize("name", ["estante-csv", "estante-json", "estante-jsonl"])
def test_estante_formats_are_lossless(name: str, written: list[dict[str, Any]]) -> None:
    spec = formats.FORMATS[name]
    assert spec.write is not None
    data = b"".join(spec.write(written))
    expected = [validate_book({k: b[k] for k in EDITABLE_FIELDS}) for b in written]
    assert _read_back(name, data) == expected


CALIBRE_HELD = ("title", "authors", "isbn", "publisher", "language", "subjects", "series")
MARC_HELD = (*CALIBRE_HELD, "page_count", "series_index", "copies", "cover_url", "description")
HELD = {
    "calibre": CALIBRE_HELD,
    "marc": (*MARC_HELD, "subtitle", "published_date", "published_year"),
}
HELD["marcxml"] = HELD["marc"]


@settings(max_examples=20)
@given(st.lists(books(), min_size=1, max_size=4))
@pytest.mark.parametrize("name", ["calibre", "marc", "marcxml"])
def test_calibre_and_marc_keep_what_they_can_hold(name: str, written: list[dict[str, Any]]) -> None:
    spec = formats.FORMATS[name]
    assert spec.write is not None
    data = b"".join(spec.write(written))
    read_back = _read_back(name, data)
    for before, after in zip(written, read_back, strict=True):
        expected = {k: before[k] for k in HELD[name]}
        if name == "calibre" and before["subtitle"]:  # Calibre has no subtitle
            expected["title"] = f"{before['title']}: {before['subtitle']}"
        assert {k: after[k] for k in HELD[name]} == expected


def test_pymarc_reads_our_binary_marc() -> None:
    written = {
        "id": 7,
        "title": "Dom Casmurro",
        "author": "Machado de Assis",
        "authors": ["Machado de Assis"],
        "isbn": "9788535902778",
        "language": "pt",
        "created_at": "2026-01-01T00:00:00Z",
    }
    data = b"".join(marc.write_binary([written]))
    record = next(iter(pymarc.MARCReader(io.BytesIO(data), to_unicode=True)))
    assert record["245"]["a"] == "Dom Casmurro"
    assert record["020"]["a"] == "9788535902778"
    assert record["008"].data[35:38] == "por"


def test_calibre_export_is_quoted_with_a_bom_and_neutralised() -> None:
    written = {"id": 1, "title": "=HYPERLINK(1)", "author": "A", "authors": ["A"]}
    data = b"".join(calibre.write([{**written, "created_at": "2026-01-01T00:00:00Z"}]))
    text = data.decode("utf-8")
    assert text.startswith('\ufeff"title"')
    assert '"\'=HYPERLINK(1)"' in text


def test_rejects_files_read_again_as_they_are() -> None:
    inspection, rows = read("spreadsheet.csv", format_name="csv", mapping=MAPPING)
    rejected = [(r.original, "a reason") for r in rows if r.error]
    data = b"".join(formats.rejects("csv", inspection.header, rejected))
    again = formats.inspect(data, complete=True, format_name="csv", mapping=MAPPING)
    assert again.header == [*MAPPING, "reason"]
    assert data.decode().splitlines()[0] == "Titel,Verfasser,Jahr,Schlagworte,Nummer,reason"
    json_rows = read("estante_books.jsonl")[1]
    out = b"".join(
        estante.json_rejects([(json_rows[2].original, "title: must not be empty")], lines=True)
    )
    again = list(estante.read_jsonl(io.BytesIO(out), "utf-8"))
    assert again[0].fields == {"title": "", "author": "Nobody"}  # the reason is left out
    assert json.loads(out)["_reason"] == "title: must not be empty"
    marc_rows = read("library_records.mrc")[1]
    out = b"".join(marc.binary_rejects([(marc_rows[2].original, "title: Field required")]))
    again = list(marc.read_binary(io.BytesIO(out)))
    assert again[0].source_id == "ocm0003"
    assert next(iter(pymarc.MARCReader(io.BytesIO(out))))["999"]["a"] == "title: Field required"
    xml_rows = read("library_records.xml")[1]
    out = b"".join(marc.xml_rejects([(xml_rows[2].original, "no title")]))
    assert next(iter(marc.read_xml(io.BytesIO(out)))).source_id == "ocm0003"


def test_a_json_array_is_read_in_pieces() -> None:
    text = json.dumps([{"title": f"T{i}", "author": "A", "id": i} for i in range(50)])
    pieces = iter([text[i : i + 7] for i in range(0, len(text), 7)])
    assert len(list(estante.objects(pieces))) == 50
    with pytest.raises(FileProblem, match="truncated"):
        list(estante.objects(iter([text[:-40]])))


def test_csv_rejects_keep_one_reason_column() -> None:
    header = ["title", "author", csvfile.REASON]
    out = b"".join(csvfile.rejects(header, [(json.dumps(["t", "a", "old"]).encode(), "new")]))
    assert out.decode().splitlines() == ["title,author,reason", "t,a,new"]


def test_unknown_members_and_columns_are_refused_not_ignored() -> None:
    line = b'{"title": "T", "author": "A", "titel": "typo", "version": 3, "_reason": "old"}\n'
    row = next(estante.read_jsonl(io.BytesIO(line), "utf-8"))
    with pytest.raises(InvalidRow, match="titel"):  # version and _reason are left out
        validate_book(row.fields or {})
    with pytest.raises(FileProblem, match="colour"):
        formats.inspect(b"title,author,authors,colour\r\nT,A,A,red\r\n", complete=True)


@pytest.mark.parametrize("name", ["marc", "marcxml"])
def test_a_carriage_return_in_a_description_comes_back_from_marc(name: str) -> None:
    written = {
        "id": 3,
        "title": "Linhas",
        "authors": ["Ana Souza"],
        "description": "first\rsecond\r\nthird",
        "created_at": "2026-01-02T03:04:05Z",
    }
    spec = formats.FORMATS[name]
    assert spec.write is not None
    assert _read_back(name, b"".join(spec.write([written])))[0]["description"] == (
        "first\rsecond\r\nthird"
    )
