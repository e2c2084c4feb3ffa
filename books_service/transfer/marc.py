"""MARC 21 bibliographic records, binary (ISO 2709, ``.mrc``) and MARCXML: what library systems
(Koha, Evergreen) exchange. Read with pymarc (MARC-8 or UTF-8); written directly (a record is
a leader, a directory and fields: writing them by hand is several times faster than building
pymarc objects, and pymarc reads the result back in the tests).

Fields: 001 control number (the source id), 008/35-37 and 041 language, 020 ISBN, 100/110 and
700/710 authors, 245 $a title and $b subtitle, 264/260 $b publisher and $c date, 300 extent
(pages), 490/830 series and number, 520 summary (one field per paragraph), 650 subjects, 856
with "Cover image" in $3 the cover URL, and Estante's local 959 $a the number of copies. The
ISBD punctuation ending a subfield (" /", " :", " ;", " =", ",", ".") is not part of the value.
A date that is not a plain YYYY[-MM[-DD]] (``c1990.``, ``[1899]``) gives only the year."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO
from xml.sax.saxutils import escape, quoteattr

from books_service.transfer.calibre import alpha3
from books_service.transfer.estante import number_cell
from books_service.transfer.rows import FileProblem, Row, compact, first_isbn, text

# pymarc (some 4 MB in memory) is imported by the functions that read records: every Books
# worker loads this module for the export writers, and most never read a MARC file.
if TYPE_CHECKING:
    import pymarc

# XML_SAFETY: ElementTree never fetches external entities or DTDs, and the expat it runs on
# (2.4.1 and later) refuses entity expansion bombs ("billion laughs").
FIELD_END, RECORD_END, SUBFIELD = b"\x1e", b"\x1d", b"\x1f"
MAX_RECORD = 99_999
MAX_FIELD = 9_999
NAMESPACE = "http://www.loc.gov/MARC21/slim"
REASON_TAG = "999"
COPIES_TAG = "959"
_LEADER = re.compile(rb"^[0-9]{5}[acdnp ][a-z ][a-z ]")
# A parser reads a bare carriage return in XML text as a line feed: written as a reference.
_CARRIAGE_RETURN = {"\r": "&#13;"}
_ISBD_END = re.compile(r"(?:\s+[/:;=]|,|(?<=[^\s.A-Z])\.)\s*$")
_DATE = re.compile(r"^[0-9]{4}(?:-[0-9]{2}(?:-[0-9]{2})?)?$")
_YEAR = re.compile(r"(?<![0-9])([0-9]{4})(?![0-9])")
_BRACKET_YEAR = re.compile(r"^\[(-?[0-9]{1,4})\]$")
_PAGES = re.compile(r"([0-9]+)\s*(?:p\b|pp\b|pages|páginas|pág|S\.|Seiten)", re.IGNORECASE)
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def unpunctuate(value: str | None) -> str | None:
    """A subfield without the ISBD punctuation that ends it."""
    value = text(value)
    return text(_ISBD_END.sub("", value)) if value else None


def _subfields(record: pymarc.Record, tags: tuple[str, ...], code: str) -> list[str]:
    values = []
    for field in record.get_fields(*tags):
        for value in field.get_subfields(code):
            cleaned = unpunctuate(value)
            if cleaned:
                values.append(cleaned)
    return values


def _first(record: pymarc.Record, tags: tuple[str, ...], code: str) -> str | None:
    values = _subfields(record, tags, code)
    return values[0] if values else None


def _date_fields(value: str | None) -> dict[str, Any]:
    value = unpunctuate(value)
    if not value:
        return {}
    if _DATE.match(value):
        return {"published_date": value}
    bracketed = _BRACKET_YEAR.match(value)
    if bracketed:
        return {"published_year": int(bracketed[1])}
    year = _YEAR.search(value)
    return {"published_year": int(year[1])} if year else {}


def _language(record: pymarc.Record) -> str | None:
    for field in record.get_fields("008"):
        code = (field.data or "")[35:38].strip()
        if len(code) == 3 and code.isalpha() and code not in ("und", "zxx", "mul"):
            return code
    return _first(record, ("041",), "a")


def _cover(record: pymarc.Record) -> str | None:
    for field in record.get_fields("856"):
        if any("cover" in label.lower() for label in field.get_subfields("3")):
            urls = field.get_subfields("u")
            if urls:
                return text(urls[0])
    return None


def _number(value: str | None) -> float | None:
    match = _NUMBER.search(value or "")
    return float(match[0]) if match else None


def map_record(record: pymarc.Record) -> tuple[dict[str, Any], str | None]:
    title = _first(record, ("245",), "a")
    for code in ("n", "p"):
        title = " ".join(filter(None, [title, *_subfields(record, ("245",), code)])) or None
    isbns = [value.split(" ")[0] for value in _subfields(record, ("020",), "a")]
    extent = _first(record, ("300",), "a")
    pages = _PAGES.search(extent or "") if extent else None
    series_fields = record.get_fields("490") or record.get_fields("830")
    series = (
        unpunctuate(series_fields[0].get_subfields("a")[0])
        if series_fields and series_fields[0].get_subfields("a")
        else None
    )
    index = (
        _number(series_fields[0].get_subfields("v")[0])
        if series and series_fields[0].get_subfields("v")
        else None
    )
    publication = record.get_fields("264") or record.get_fields("260")
    dates = publication[0].get_subfields("c") if publication else []
    description = "\n\n".join(
        value.strip()
        for f in record.get_fields("520")
        for value in f.get_subfields("a")
        if value.strip()
    )
    copies = _first(record, (COPIES_TAG,), "a")
    control = record.get_fields("001")
    fields = {
        "title": title,
        "subtitle": _first(record, ("245",), "b"),
        "authors": list(dict.fromkeys(_subfields(record, ("100", "110", "700", "710"), "a"))),
        "isbn": first_isbn(isbns) or (isbns[0] if isbns else None),
        "publisher": unpunctuate(publication[0].get_subfields("b")[0])
        if publication and publication[0].get_subfields("b")
        else None,
        **_date_fields(dates[0] if dates else None),
        "page_count": int(pages[1]) if pages else None,
        "language": _language(record),
        "subjects": list(dict.fromkeys(_subfields(record, ("650",), "a"))),
        "description": description or None,
        "cover_url": _cover(record),
        "series": series,
        "series_index": index,
        "copies": int(copies) if copies and copies.isdigit() else None,
    }
    source = text(control[0].data) if control else None
    return compact(fields), source


# --- Reading ---------------------------------------------------------------------------------


def read_binary(stream: BinaryIO, encoding: str = "", mapping: Any = None) -> Iterator[Row]:
    import pymarc

    reader = pymarc.MARCReader(
        stream, to_unicode=True, hide_utf8_warnings=True, utf8_handling="replace", permissive=True
    )
    for number, record in enumerate(reader, start=1):
        row = Row(number, bytes(reader.current_chunk or b""))
        if record is None:
            row.error = f"not a readable MARC record: {reader.current_exception}"
        else:
            try:
                row.fields, row.source_id = map_record(record)
            except (ValueError, IndexError, KeyError) as error:
                row.error = f"not a readable MARC record: {error}"
        yield row


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def element_record(element: ET.Element) -> pymarc.Record:
    import pymarc

    record = pymarc.Record()
    for child in element:
        name = _local(child.tag)
        if name == "leader":
            record.leader = pymarc.Leader((child.text or "").ljust(24)[:24])
        elif name == "controlfield":
            record.add_field(pymarc.Field(tag=child.get("tag", ""), data=child.text or ""))
        elif name == "datafield":
            subfields = [
                pymarc.Subfield(code=s.get("code", ""), value=s.text or "")
                for s in child
                if _local(s.tag) == "subfield"
            ]
            record.add_field(
                pymarc.Field(
                    tag=child.get("tag", ""),
                    indicators=pymarc.Indicators(child.get("ind1", " "), child.get("ind2", " ")),
                    subfields=subfields,
                )
            )
    return record


def read_xml(stream: BinaryIO, encoding: str = "", mapping: Any = None) -> Iterator[Row]:
    number = 0
    root = None
    try:
        events = ET.iterparse(stream, events=("start", "end"))  # noqa: S314 - see XML_SAFETY
        for event, element in events:
            if root is None:
                root = element
            if event != "end" or _local(element.tag) != "record":
                continue
            number += 1
            row = Row(number, ET.tostring(element, encoding="utf-8"))
            row.fields, row.source_id = map_record(element_record(element))
            yield row
            if root is not element:
                root.clear()
    except ET.ParseError as error:
        raise FileProblem(f"The MARCXML is not well-formed: {error}.") from None


def check_xml_head(head: bytes, *, complete: bool = False) -> None:
    """The first part of a MARCXML file (the whole of it when ``complete``): well-formed XML
    whose root is a collection or a record."""
    parser: ET.XMLPullParser = ET.XMLPullParser(events=("start",))
    try:
        parser.feed(head)
        first: Any = next(iter(parser.read_events()), None)  # ("start", the root element)
        if first is not None and _local(first[1].tag) not in ("collection", "record"):
            raise FileProblem("The XML is not MARCXML (its root is neither collection nor record).")
        if complete:
            parser.close()
            for _ in parser.read_events():
                pass
    except ET.ParseError as error:
        raise FileProblem(f"The MARCXML is not well-formed: {error}.") from None


def looks_binary_marc(head: bytes) -> bool:
    return (
        bool(_LEADER.match(head))
        and FIELD_END in head[:MAX_RECORD]
        and RECORD_END in head[:MAX_RECORD]
    )


# --- Writing ---------------------------------------------------------------------------------

Field = tuple[str, str | tuple[str, str, list[tuple[str, str]]]]


def _fixed(book: dict[str, Any]) -> str:
    created = book.get("created_at") or datetime.now(UTC).isoformat()
    entered = created[2:4] + created[5:7] + created[8:10]
    year = book.get("published_year")
    date1 = f"{year:04d}" if year is not None and 0 <= year <= 9999 else "    "
    language = alpha3(book["language"]) if book.get("language") else "   "
    return (
        f"{entered}{'s' if date1.strip() else 'n'}{date1}    xx {' ' * 17}{language.ljust(3)[:3]} d"
    )


def _paragraphs(description: str | None) -> list[str]:
    """The summary as 520 fields: one per paragraph, none longer than a field may be."""
    pieces: list[str] = []
    for paragraph in (description or "").split("\n\n"):
        while len(paragraph.encode()) > MAX_FIELD - 20:
            cut = MAX_FIELD // 4
            pieces.append(paragraph[:cut])
            paragraph = paragraph[cut:]
        if paragraph:
            pieces.append(paragraph)
    return pieces


def fields_of(book: dict[str, Any]) -> list[Field]:
    authors = book.get("authors") or [book["author"]]
    fields: list[Field] = [("001", str(book["id"])), ("008", _fixed(book))]
    if book.get("isbn"):
        fields.append(("020", (" ", " ", [("a", book["isbn"])])))
    if book.get("language"):
        fields.append(("041", ("0", " ", [("a", alpha3(book["language"]))])))
    fields.append(("100", ("1", " ", [("a", authors[0])])))
    title = [("a", book["title"] + (" :" if book.get("subtitle") else ""))]
    if book.get("subtitle"):
        title.append(("b", book["subtitle"]))
    fields.append(("245", ("1", "0", title)))
    publication = []
    if book.get("publisher"):
        publication.append(("b", book["publisher"]))
    if book.get("published_date"):
        publication.append(("c", book["published_date"]))
    elif book.get("published_year") is not None:
        publication.append(("c", f"[{book['published_year']}]"))
    if publication:
        fields.append(("264", (" ", "1", publication)))
    if book.get("page_count"):
        fields.append(("300", (" ", " ", [("a", f"{book['page_count']} pages")])))
    if book.get("series"):
        series = [("a", book["series"])]
        if book.get("series_index") is not None:
            series.append(("v", number_cell(book["series_index"])))
        fields.append(("490", ("0", " ", series)))
    fields += [("520", (" ", " ", [("a", p)])) for p in _paragraphs(book.get("description"))]
    fields += [("650", (" ", "4", [("a", s)])) for s in book.get("subjects") or []]
    fields += [("700", ("1", " ", [("a", name)])) for name in authors[1:]]
    if book.get("cover_url"):
        fields.append(("856", ("4", "2", [("3", "Cover image"), ("u", book["cover_url"])])))
    if book.get("copies") is not None:
        fields.append((COPIES_TAG, (" ", " ", [("a", str(book["copies"]))])))
    return fields


def _encode(value: str | tuple[str, str, list[tuple[str, str]]]) -> bytes:
    if isinstance(value, str):
        return value.encode() + FIELD_END
    ind1, ind2, subfields = value
    body = "".join(f"\x1f{code}{data}" for code, data in subfields)
    return (ind1 + ind2 + body).encode() + FIELD_END


def record_bytes(fields: list[Field]) -> bytes:
    encoded = [(tag, _encode(value)) for tag, value in fields]
    while True:
        base = 24 + 12 * len(encoded) + 1
        length = base + sum(len(data) for _, data in encoded) + 1
        if length <= MAX_RECORD:
            break
        # Too long for ISO 2709: the summary's last paragraphs go first.
        last = max(i for i, (tag, _) in enumerate(encoded) if tag == "520")
        del encoded[last]
    directory = bytearray()
    start = 0
    for tag, data in encoded:
        directory += f"{tag}{len(data):04d}{start:05d}".encode()
        start += len(data)
    leader = f"{length:05d}nam a22{base:05d} i 4500".encode()
    return leader + bytes(directory) + FIELD_END + b"".join(d for _, d in encoded) + RECORD_END


def write_binary(books: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    buffer = bytearray()
    for book in books:
        buffer += record_bytes(fields_of(book))
        if len(buffer) > 64 * 1024:
            yield bytes(buffer)
            buffer.clear()
    yield bytes(buffer)


def _xml_record(fields: list[Field], leader: str = "00000nam a2200000 i 4500") -> str:
    parts = [f"<record><leader>{leader}</leader>"]
    for tag, value in fields:
        if isinstance(value, str):
            parts.append(
                f'<controlfield tag="{tag}">{escape(value, _CARRIAGE_RETURN)}</controlfield>'
            )
            continue
        ind1, ind2, subfields = value
        parts.append(f'<datafield tag="{tag}" ind1={quoteattr(ind1)} ind2={quoteattr(ind2)}>')
        parts += [
            f"<subfield code={quoteattr(code)}>{escape(data, _CARRIAGE_RETURN)}</subfield>"
            for code, data in subfields
        ]
        parts.append("</datafield>")
    parts.append("</record>\n")
    return "".join(parts)


XML_START = f'<?xml version="1.0" encoding="UTF-8"?>\n<collection xmlns="{NAMESPACE}">\n'
XML_END = "</collection>\n"


def write_xml(books: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    yield XML_START.encode()
    parts: list[str] = []
    for book in books:
        parts.append(_xml_record(fields_of(book)))
        if len(parts) >= 200:
            yield "".join(parts).encode()
            parts = []
    yield ("".join(parts) + XML_END).encode()


# --- Rejects ---------------------------------------------------------------------------------


def binary_rejects(rejected: Iterable[tuple[bytes, str]]) -> Iterator[bytes]:
    """The rejected records with the reason in a 999 $a (replacing an earlier one)."""
    import pymarc

    for original, reason in rejected:
        try:
            record = next(iter(pymarc.MARCReader(io.BytesIO(original), hide_utf8_warnings=True)))
        except Exception:
            record = None
        if record is None:
            yield original
            continue
        record.remove_fields(REASON_TAG)
        record.add_field(
            pymarc.Field(
                tag=REASON_TAG,
                indicators=pymarc.Indicators(" ", " "),
                subfields=[pymarc.Subfield("a", reason)],
            )
        )
        record.leader = pymarc.Leader(str(record.leader)[:9] + "a" + str(record.leader)[10:])
        yield record.as_marc()


def xml_rejects(rejected: Iterable[tuple[bytes, str]]) -> Iterator[bytes]:
    ET.register_namespace("", NAMESPACE)
    yield XML_START.encode()
    for original, reason in rejected:
        element = ET.fromstring(original)  # noqa: S314 - our own stored record
        for old in [
            c for c in element if _local(c.tag) == "datafield" and c.get("tag") == REASON_TAG
        ]:
            element.remove(old)
        namespace = element.tag[: -len("record")]
        field = ET.SubElement(
            element, f"{namespace}datafield", {"tag": REASON_TAG, "ind1": " ", "ind2": " "}
        )
        ET.SubElement(field, f"{namespace}subfield", {"code": "a"}).text = reason
        yield ET.tostring(element, encoding="unicode").encode() + b"\n"
    yield XML_END.encode()
