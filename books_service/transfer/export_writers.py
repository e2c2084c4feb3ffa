"""The export's format writers over raw rows (see :mod:`books_service.transfer.export`): each
takes pages of rows and gives one piece of the file per page.

They write what the book-object writers of :mod:`~books_service.transfer.estante`,
:mod:`~books_service.transfer.calibre` and :mod:`~books_service.transfer.marc` write, byte for
byte (tests/integration/test_export_output.py holds their files as golden files), but do only
the work each value needs: JSON strings are escaped by the json module's C escaper, the CSV
cells go to the C writer as they are (None is an empty cell, an int its digits), the formula
check is one look at a cell's first character, MARC records are written straight as text, and
the JSON lists are decoded only when their stored text is not already what the file needs."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import json.scanner
import operator
import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, chain
from json.encoder import encode_basestring
from typing import Any

from books_service.transfer import marc
from books_service.transfer.calibre import _NAMESPACE, alpha3, comments_html
from books_service.transfer.calibre import COLUMNS as CALIBRE_COLUMNS
from books_service.transfer.estante import _LIST_JOINER, CSV_COLUMNS, number_cell
from books_service.transfer.export import NAMES, iso_time
from books_service.transfer.rows import neutralise

Row = Sequence[Any]
Pages = Iterable[list[Row]]
_RISKY = frozenset("=+-@\t\r'")
# The stubs type make_scanner as the class it is in pure Python, not the C factory it is here.
_scan: Any = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _loads(raw: str) -> Any:
    """A stored JSON value, decoded by the json module's C scanner without its Python layers
    (the stored text is JSON our own writes made: no leading space)."""
    try:
        return _scan(raw, 0)[0]
    except StopIteration:  # not so: the json module says why
        return json.loads(raw)


_ISBN10_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_FIELDS = len(NAMES)
# The columns each format reads (export.pages's ``names``), in the order its writer unpacks a
# row: a column no writer needs is not read at all.
CALIBRE_NAMES = ("id", "title", "subtitle", "author", "authors", "isbn", "publisher",
                 "published_year", "published_date", "language", "subjects", "description",
                 "series", "series_index", "created_at")  # fmt: skip
MARC_NAMES = ("id", "title", "subtitle", "author", "authors", "isbn", "publisher",
              "published_year", "published_date", "language", "page_count", "subjects",
              "description", "cover_url", "series", "series_index", "copies",
              "created_at")  # fmt: skip


def _items(raw: str) -> list[str]:
    """A stored JSON list of names. Text that json.dumps wrote without any escape is split
    as it is; anything else is decoded."""
    if raw == "[]":
        return []
    if "\\" not in raw and '","' not in raw and raw[:2] == '["' and raw[-2:] == '"]':
        return raw[2:-2].split('", "')
    items: list[str] = _loads(raw)
    return items


def _joined(raw: str, joiner: str) -> str:
    """``joiner.join(_items(raw))``; text that json.dumps wrote without any escape has its
    separators replaced."""
    if "\\" not in raw and '","' not in raw and raw[:2] == '["' and raw[-2:] == '"]':
        return raw[2:-2].replace('", "', joiner)
    return joiner.join(_items(raw))


def _json_list(raw: str) -> str:
    """A stored JSON list as ``json.dumps(..., ensure_ascii=False)`` writes it: the stored text
    itself when it has no escapes (then both spell it alike), else written again."""
    if "\\" not in raw and '","' not in raw:
        return raw
    return "[" + ", ".join(map(encode_basestring, _loads(raw))) + "]"


def isbn_10(isbn: str | None) -> str | None:
    """The ISBN-10 of a 978 ISBN-13 (as :func:`books_service.isbn.to_isbn10`)."""
    if not isbn or not isbn.startswith("978"):
        return None
    body = isbn[3:12]
    # The digits' weighted sum from their character codes (a stored ISBN is its digits): the
    # codes' sum less the weights' sum (54) times the code of "0", without an int() a digit.
    codes = sum(map(operator.mul, _ISBN10_WEIGHTS, body.encode())) - 54 * 48
    value = (11 - codes % 11) % 11
    return body + ("X" if value == 10 else str(value))


def _cell(value: str | None) -> str | None:
    """A text cell safe in a spreadsheet (see :func:`~books_service.transfer.rows.neutralise`):
    only a cell starting with one of the characters concerned is looked at further."""
    if value and value[0] in _RISKY:
        return neutralise(value)
    return value


def _list_cell(raw: str) -> str:
    """Estante's CSV list cell (:func:`~books_service.transfer.estante.list_cell`), neutralised."""
    if raw == "[]":
        return ""
    if "\\" not in raw and '","' not in raw and ";" not in raw and "[" not in raw[1:]:
        joined = raw[2:-2].replace('", "', _LIST_JOINER)  # what json.dumps wrote, unescaped
        return neutralise(joined) if joined[0] in _RISKY else joined
    values = _items(raw)
    joined = _LIST_JOINER.join(values)
    if ("[" in joined or joined.count(";") != len(values) - 1) and any(
        ";" in v or v.startswith("[") for v in values
    ):
        joined = json.dumps(values, ensure_ascii=False)
    return neutralise(joined) if joined[0] in _RISKY else joined


def _number(value: Any) -> str:
    """A number as json.dumps writes it (null when absent)."""
    return "null" if value is None else repr(value)


# --- Estante's own: JSON, JSON Lines, CSV -----------------------------------------------------


def _json_object(r: Row, s: Any = encode_basestring) -> str:
    (book_id, title, subtitle, author, authors, isbn, publisher, year, date, language, pages,
     subjects, description, cover, series, index, copies, version, created_at, created_by,
     updated_at, updated_by) = r[:_FIELDS]  # fmt: skip
    ten = isbn_10(isbn)
    return (
        f'{{"id": {book_id}, "title": {s(title)}, '
        f'"subtitle": {"null" if subtitle is None else s(subtitle)}, "author": {s(author)}, '
        f'"authors": {_json_list(authors)}, "isbn": {"null" if isbn is None else s(isbn)}, '
        f'"isbn_10": {"null" if ten is None else s(ten)}, '
        f'"publisher": {"null" if publisher is None else s(publisher)}, '
        f'"published_year": {_number(year)}, '
        f'"published_date": {"null" if date is None else s(date)}, '
        f'"language": {"null" if language is None else s(language)}, '
        f'"page_count": {_number(pages)}, "subjects": {_json_list(subjects)}, '
        f'"description": {"null" if description is None else s(description)}, '
        f'"cover_url": {"null" if cover is None else s(cover)}, '
        f'"series": {"null" if series is None else s(series)}, '
        f'"series_index": {_number(index)}, "copies": {copies}, "version": {version}, '
        f'"created_at": "{iso_time(created_at)}", "created_by": {s(created_by)}, '
        f'"updated_at": "{iso_time(updated_at)}", '
        f'"updated_by": {"null" if updated_by is None else s(updated_by)}}}'
    )


def write_jsonl(pages: Pages) -> Iterator[bytes]:
    for page in pages:
        yield ("\n".join(map(_json_object, page)) + "\n").encode()


def write_json(pages: Pages) -> Iterator[bytes]:
    """One object per line inside the array: readable, and streamable by line-based tools."""
    separator = "\n"
    yield b"["
    for page in pages:
        yield (separator + ",\n".join(map(_json_object, page))).encode()
        separator = ",\n"
    yield b"\n]\n"


def _csv_row(r: Row, c: Any = _cell) -> list[str]:
    (book_id, title, subtitle, author, authors, isbn, publisher, year, date, language, pages,
     subjects, description, cover, series, index, copies, version, created_at, created_by,
     updated_at, updated_by) = r[:_FIELDS]  # fmt: skip
    return [
        f"{book_id}",
        c(title),
        "" if subtitle is None else c(subtitle),
        c(author),
        _list_cell(authors),
        "" if isbn is None else isbn,
        isbn_10(isbn) or "",
        "" if publisher is None else c(publisher),
        "" if year is None else f"{year}" if year >= 0 else neutralise(f"{year}"),
        "" if date is None else c(date),
        "" if language is None else c(language),
        "" if pages is None else f"{pages}",
        _list_cell(subjects),
        "" if description is None else c(description),
        "" if cover is None else c(cover),
        "" if series is None else c(series),
        "" if index is None else c(number_cell(index)),
        f"{copies}",
        f"{version}",
        iso_time(created_at),
        c(created_by),
        iso_time(updated_at),
        "" if updated_by is None else c(updated_by),
    ]


_CELL, _LINE = "\x00", "\x01"  # between the cells of a row, and between rows, in a joined page
_QUOTED = re.compile(b'[,"\r\n]')  # what makes csv.writer quote a cell (QUOTE_MINIMAL)


def _minimal(line: bytes) -> bytes:
    if _QUOTED.search(line) is None:
        return line.replace(b"\x00", b",")
    return b",".join(
        [
            b'"' + cell.replace(b'"', b'""') + b'"' if _QUOTED.search(cell) else cell
            for cell in line.split(b"\x00")
        ]
    )


def csv_bytes(rows: list[list[str]], *, quote_all: bool = False) -> bytes:
    """The rows as ``csv.writer(lineterminator="\\r\\n")`` writes them (every cell quoted, or
    only those with a comma, a quote or a line break), in UTF-8, but a page at a time: the cells
    joined with two separator characters by C joins, then quotes doubled and separators replaced
    over the page's bytes (each of these characters is one byte in UTF-8, and bytes are searched
    faster than text with wide characters). The C writer's loop over every character of every
    cell cost more than all the rest of a row (10 µs a Calibre row). A page with a separator
    character in a value goes to the C writer."""
    text = _LINE.join(map(_CELL.join, rows))
    if text.count(_CELL) != sum(map(len, rows)) - len(rows) or text.count(_LINE) != len(rows) - 1:
        out = io.StringIO()
        options: dict[str, Any] = {"quoting": csv.QUOTE_ALL} if quote_all else {}
        csv.writer(out, lineterminator="\r\n", **options).writerows(rows)
        return out.getvalue().encode()
    data = text.encode()
    if quote_all:
        quoted = data.replace(b'"', b'""').replace(b"\x00", b'","').replace(b"\x01", b'"\r\n"')
        return b'"' + quoted + b'"\r\n'
    if _QUOTED.search(data) is None:
        return data.replace(b"\x00", b",").replace(b"\x01", b"\r\n") + b"\r\n"
    return b"\r\n".join(map(_minimal, data.split(b"\x01"))) + b"\r\n"


def _csv(columns: list[str], pages: Pages, row: Any, *, quote_all: bool = False) -> Iterator[bytes]:
    yield csv_bytes([columns], quote_all=quote_all)
    for page in pages:
        yield csv_bytes(list(map(row, page)), quote_all=quote_all)


def write_csv(pages: Pages) -> Iterator[bytes]:
    assert len(CSV_COLUMNS) == 23
    return _csv(CSV_COLUMNS, pages, _csv_row)


# --- Calibre ----------------------------------------------------------------------------------

_UUID_BASE = hashlib.sha1(_NAMESPACE.bytes, usedforsecurity=False)
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def calibre_uuid(book_id: int) -> str:
    """``uuid.uuid5(calibre._NAMESPACE, f"estante-book-{id}")``, without the UUID objects."""
    digest = _UUID_BASE.copy()
    digest.update(b"estante-book-%d" % book_id)
    x = digest.hexdigest()
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"


def _pubdate(year: int | None, date: str | None) -> str:
    if date:
        parts = [*date.split("-"), "01", "01"][:3]
        return "-".join(parts) + "T00:00:00+00:00"
    if year is not None and 0 <= year <= 9999:
        return f"{year:04d}-01-01T00:00:00+00:00"
    return ""


def _comments(description: str) -> str:
    """:func:`~books_service.transfer.calibre.comments_html`; one line of text without
    markup characters is simply one paragraph."""
    if "\n" in description or "&" in description or "<" in description or ">" in description:
        return comments_html(description)
    return f"<p>{description}</p>" if description.strip() else ""


def _calibre_row(r: Row, c: Any = _cell) -> list[str]:
    (book_id, title, subtitle, author, authors, isbn, publisher, year, date, language, subjects,
     description, series, index, created_at) = r[:15]  # fmt: skip
    if subtitle:
        title = f"{title}: {subtitle}"
    title = c(title)
    time = iso_time(created_at)
    return [
        title,
        title,
        c(author),
        c(_joined(authors, " & ")),
        _comments(description) if description else "",
        "",
        "",
        str(book_id),
        isbn or "",
        "Estante",
        _pubdate(year, date),
        c(publisher) or "",
        "",
        c(number_cell(index)) if series else "1",
        c(series) or "",
        "",
        c(_joined(subjects, ", ")),
        time[:-1] + "+00:00" if time[-1] == "Z" else time,
        calibre_uuid(book_id),
        alpha3(language) if language else "",
        f"isbn:{isbn}" if isbn else "",
    ]


def write_calibre(pages: Pages) -> Iterator[bytes]:
    assert len(CALIBRE_COLUMNS) == 21
    chunks = _csv(CALIBRE_COLUMNS, pages, _calibre_row, quote_all=True)
    first = next(chunks)
    yield "\ufeff".encode() + first
    yield from chunks


# --- MARC 21 and MARCXML ----------------------------------------------------------------------

_FIELD_END = "\x1e"
_MAX_SUMMARY = marc.MAX_FIELD - 20


# A record's 008 field by its date entered, year and language: few in a catalog (a day's
# imports share a date), and formatting one was a ninth of a MARC record's work. Bounded.
_FIXED_SEEN: dict[tuple[str, int | None, str | None], str] = {}


def _fixed(created_at: Any, year: int | None, language: str | None) -> str:
    # The stored text has the date where the ISO form has it.
    created = created_at if type(created_at) is str else iso_time(created_at)
    key = (created[:10], year, language)
    known = _FIXED_SEEN.get(key)
    if known is not None:
        return known
    entered = created[2:4] + created[5:7] + created[8:10]
    dated = f"s{year:04d}" if year is not None and 0 <= year <= 9999 else "n    "
    code = alpha3(language) if language else "   "
    fixed = f"{entered}{dated}    xx {' ' * 17}{code.ljust(3)[:3]} d"
    if len(_FIXED_SEEN) >= 4096:
        _FIXED_SEEN.clear()
    _FIXED_SEEN[key] = fixed
    return fixed


def _paragraphs(description: str | None) -> list[str]:
    if not description:
        return []
    if len(description) * 4 <= _MAX_SUMMARY:  # no paragraph can be too long
        return [p for p in description.split("\n\n") if p]
    return marc._paragraphs(description)


def _marc_fields(r: Row) -> list[Any]:
    """The record's fields as (tag, ind1, ind2, subfields), control fields as (tag, data)
    (:func:`books_service.transfer.marc.fields_of`'s fields, from a raw row)."""
    (book_id, title, subtitle, author, authors, isbn, publisher, year, date, language, pages,
     subjects, description, cover, series, index, copies, created_at) = r[:18]  # fmt: skip
    names = _items(authors) or [author]
    fields: list[Any] = [("001", str(book_id)), ("008", _fixed(created_at, year, language))]
    if isbn:
        fields.append(("020", " ", " ", (("a", isbn),)))
    if language:
        fields.append(("041", "0", " ", (("a", alpha3(language)),)))
    fields.append(("100", "1", " ", (("a", names[0]),)))
    if subtitle:
        fields.append(("245", "1", "0", (("a", title + " :"), ("b", subtitle))))
    else:
        fields.append(("245", "1", "0", (("a", title),)))
    publication = []
    if publisher:
        publication.append(("b", publisher))
    if date:
        publication.append(("c", date))
    elif year is not None:
        publication.append(("c", f"[{year}]"))
    if publication:
        fields.append(("264", " ", "1", publication))
    if pages:
        fields.append(("300", " ", " ", (("a", f"{pages} pages"),)))
    if series:
        if index is not None:
            fields.append(("490", "0", " ", (("a", series), ("v", number_cell(index)))))
        else:
            fields.append(("490", "0", " ", (("a", series),)))
    for paragraph in _paragraphs(description):
        fields.append(("520", " ", " ", (("a", paragraph),)))
    for subject in _items(subjects):
        fields.append(("650", " ", "4", (("a", subject),)))
    for name in names[1:]:
        fields.append(("700", "1", " ", (("a", name),)))
    if cover:
        fields.append(("856", "4", "2", (("3", "Cover image"), ("u", cover))))
    if copies is not None:
        fields.append((marc.COPIES_TAG, " ", " ", (("a", str(copies)),)))
    return fields


def _general_fields(r: Row) -> list[marc.Field]:
    """:func:`_marc_fields` in the form :mod:`~books_service.transfer.marc`'s writers take."""
    return [(f[0], f[1] if len(f) == 2 else (f[1], f[2], list(f[3]))) for f in _marc_fields(r)]


_DIRECTORY_ENTRY = "%s%04d%05d".__mod__
# Zero-padded numbers for the directory, looked up instead of formatted: formatting its two
# numbers was a third of a record's time. A field (at most 9,999 bytes) and nearly every
# record's fields fit in the table; a start past it is formatted.
_PADDED_4 = [f"{n:04d}" for n in range(10_000)]
_PADDED_5 = ["0" + n for n in _PADDED_4]


def _directory(tags: list[str], fields: list[bytes]) -> str:
    """ISO 2709's directory: per field its tag, length (4 digits) and start (5 digits). One
    loop that keeps the running start and looks the padded numbers up: a third faster than
    C maps over precomputed lengths and starts, which made a tuple and a list a field."""
    entries = []
    start = 0
    try:
        for tag, field in zip(tags, fields, strict=True):
            size = len(field)
            entries.append(f"{tag}{_PADDED_4[size]}{_PADDED_5[start]}")
            start += size
    except IndexError:  # a length or start past the table: formatted
        lengths = list(map(len, fields))
        starts = accumulate(lengths, initial=0)  # one more than there are fields
        return "".join(map(_DIRECTORY_ENTRY, zip(tags, lengths, starts, strict=False)))
    return "".join(entries)


def _marc_record(r: Row) -> bytes:
    """One ISO 2709 record: the fields of :func:`_marc_fields` written straight as text (each
    ending with the field terminator), the directory from their byte lengths."""
    (book_id, title, subtitle, author, authors, isbn, publisher, year, date, language, pages,
     subjects, description, cover, series, index, copies, created_at) = r[:18]  # fmt: skip
    names = _items(authors) or [author]
    tags = ["001", "008"]
    bodies = [f"{book_id}\x1e", _fixed(created_at, year, language) + "\x1e"]
    if isbn:
        tags.append("020")
        bodies.append(f"  \x1fa{isbn}\x1e")
    if language:
        tags.append("041")
        bodies.append(f"0 \x1fa{alpha3(language)}\x1e")
    tags += ("100", "245")
    bodies.append(f"1 \x1fa{names[0]}\x1e")
    if subtitle:
        bodies.append(f"10\x1fa{title} :\x1fb{subtitle}\x1e")
    else:
        bodies.append(f"10\x1fa{title}\x1e")
    if publisher or date or year is not None:
        tags.append("264")
        published = f"\x1fc{date}" if date else (f"\x1fc[{year}]" if year is not None else "")
        bodies.append(f" 1\x1fb{publisher}{published}\x1e" if publisher else f" 1{published}\x1e")
    if pages:
        tags.append("300")
        bodies.append(f"  \x1fa{pages} pages\x1e")
    if series:
        tags.append("490")
        if index is not None:
            bodies.append(f"0 \x1fa{series}\x1fv{number_cell(index)}\x1e")
        else:
            bodies.append(f"0 \x1fa{series}\x1e")
    for paragraph in _paragraphs(description):
        tags.append("520")
        bodies.append(f"  \x1fa{paragraph}\x1e")
    for subject in _items(subjects):
        tags.append("650")
        bodies.append(f" 4\x1fa{subject}\x1e")
    for name in names[1:]:
        tags.append("700")
        bodies.append(f"1 \x1fa{name}\x1e")
    if cover:
        tags.append("856")
        bodies.append(f"42\x1f3Cover image\x1fu{cover}\x1e")
    if copies is not None:
        tags.append(marc.COPIES_TAG)
        bodies.append(f"  \x1fa{copies}\x1e")
    encoded = list(map(str.encode, bodies))
    data = b"".join(encoded)
    base = 25 + 12 * len(tags)
    length = base + len(data) + 1
    if length > marc.MAX_RECORD:  # the summary must be shortened: the general way
        return marc.record_bytes(_general_fields(r))
    return (
        f"{length:05d}nam a22{base:05d} i 4500{_directory(tags, encoded)}\x1e".encode()
        + data
        + b"\x1d"
    )


def write_marc(pages: Pages) -> Iterator[bytes]:
    for page in pages:
        yield b"".join(map(_marc_record, page))


# While a page of MARCXML is built, its markup's brackets are these two characters: the page is
# then escaped whole (the values' "&", "<", ">" and carriage returns, by C replaces) and the
# markup's brackets put back, instead of every value being looked at on its own (a dozen calls
# a record). A page with either character in a value is written the general way.
_OPEN, _SHUT = "\x02", "\x03"
_MARK = str.maketrans("<>", _OPEN + _SHUT)
_UNMARK = bytes.maketrans(b"\x02\x03", b"<>")  # both at once, in one pass over the page
# The marking characters in a value, and in the JSON text of a list of names (escaped there).
_MARKS = (_OPEN, _SHUT, "\\u0002", "\\u0003")


def _marked(xml: str) -> str:
    return xml.translate(_MARK)


def _one(tag: str, indicators: str) -> str:
    """A datafield's opening up to the value of its one subfield $a, marked."""
    return _marked(
        f'<datafield tag="{tag}" ind1="{indicators[0]}" ind2="{indicators[1]}"><subfield code="a">'
    )


_END = _marked("</subfield></datafield>")
_NEXT = _marked('</subfield><subfield code="%s">')  # % its code
_ISBN, _LANGUAGE, _AUTHOR = _one("020", "  "), _one("041", "0 "), _one("100", "1 ")
_TITLE, _PAGES, _SERIES = _one("245", "10"), _one("300", "  "), _one("490", "0 ")
_SUMMARY, _SUBJECT, _ADDED = _one("520", "  "), _one("650", " 4"), _one("700", "1 ")
_COPIES = _one(marc.COPIES_TAG, "  ")
_SUBTITLE, _INDEX = _NEXT % "b", _NEXT % "v"
_PUBLISHED = _marked('<datafield tag="264" ind1=" " ind2="1">')
_PUBLISHER = _marked('<subfield code="b">')
_DATE = _marked('<subfield code="c">')
_SUBFIELD_END = _marked("</subfield>")
_DATAFIELD_END = _marked("</datafield>")
_COVER = _marked(
    '<datafield tag="856" ind1="4" ind2="2"><subfield code="3">Cover image</subfield>'
    '<subfield code="u">'
)
_RECORD = _marked('<record><leader>00000nam a2200000 i 4500</leader><controlfield tag="001">')
_FIXED = _marked('</controlfield><controlfield tag="008">')
_CONTROL_END = _marked("</controlfield>")
_RECORD_END = _marked("</record>\n")
# The columns of MARC_NAMES that are text (a page is looked at for the marking characters).
_TEXTS = operator.itemgetter(1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 14)


def _xml_record(r: Row) -> str:
    """One MARCXML record, its markup marked (see ``_OPEN``): :func:`_marc_record`'s fields,
    as :func:`books_service.transfer.marc.write_xml` writes them."""
    (book_id, title, subtitle, author, authors, isbn, publisher, year, date, language, pages,
     subjects, description, cover, series, index, copies, created_at) = r[:18]  # fmt: skip
    names = _items(authors) or [author]
    parts = [f"{_RECORD}{book_id}{_FIXED}{_fixed(created_at, year, language)}{_CONTROL_END}"]
    if isbn:
        parts.append(f"{_ISBN}{isbn}{_END}")
    if language:
        parts.append(f"{_LANGUAGE}{alpha3(language)}{_END}")
    parts.append(f"{_AUTHOR}{names[0]}{_END}")
    if subtitle:
        parts.append(f"{_TITLE}{title} :{_SUBTITLE}{subtitle}{_END}")
    else:
        parts.append(f"{_TITLE}{title}{_END}")
    if publisher or date or year is not None:
        parts.append(_PUBLISHED)
        if publisher:
            parts.append(f"{_PUBLISHER}{publisher}{_SUBFIELD_END}")
        if date:
            parts.append(f"{_DATE}{date}{_SUBFIELD_END}")
        elif year is not None:
            parts.append(f"{_DATE}[{year}]{_SUBFIELD_END}")
        parts.append(_DATAFIELD_END)
    if pages:
        parts.append(f"{_PAGES}{pages} pages{_END}")
    if series:
        if index is not None:
            parts.append(f"{_SERIES}{series}{_INDEX}{number_cell(index)}{_END}")
        else:
            parts.append(f"{_SERIES}{series}{_END}")
    for paragraph in _paragraphs(description):
        parts.append(f"{_SUMMARY}{paragraph}{_END}")
    for subject in _items(subjects):
        parts.append(f"{_SUBJECT}{subject}{_END}")
    for name in names[1:]:
        parts.append(f"{_ADDED}{name}{_END}")
    if cover:
        parts.append(f"{_COVER}{cover}{_END}")
    if copies is not None:
        parts.append(f"{_COPIES}{copies}{_END}")
    parts.append(_RECORD_END)
    return "".join(parts)


def _xml_page(page: list[Row]) -> bytes:
    values = "".join(filter(None, chain.from_iterable(map(_TEXTS, page))))
    if any(mark in values for mark in _MARKS):
        return "".join(marc._xml_record(_general_fields(r)) for r in page).encode()
    # Replaced in the UTF-8 bytes, where each of these characters is one byte: faster than in
    # the text of a page with characters beyond Latin-1.
    return (
        "".join(map(_xml_record, page))
        .encode()
        .replace(b"&", b"&amp;")
        .replace(b">", b"&gt;")
        .replace(b"<", b"&lt;")
        .replace(b"\r", b"&#13;")
        .translate(_UNMARK)
    )


def write_marcxml(pages: Pages) -> Iterator[bytes]:
    yield marc.XML_START.encode()
    yield from map(_xml_page, pages)
    yield marc.XML_END.encode()


READS = {
    "estante-csv": NAMES,
    "estante-json": NAMES,
    "estante-jsonl": NAMES,
    "calibre": CALIBRE_NAMES,
    "marc": MARC_NAMES,
    "marcxml": MARC_NAMES,
}
WRITERS = {
    "estante-csv": write_csv,
    "estante-json": write_json,
    "estante-jsonl": write_jsonl,
    "calibre": write_calibre,
    "marc": write_marc,
    "marcxml": write_marcxml,
}
