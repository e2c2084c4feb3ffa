"""Fill a books database with generated books, fast: ``python -m bench.seed --books 1000000``.

The books look like a real catalog's: titles and descriptions from a 4,000-word vocabulary with
a Zipf distribution (a few words are everywhere, most are rare), some 18,000 author names (one
book in ten has two authors), subjects, publishers, languages, years skewed to recent ones, and
an ISBN on seven books out of ten. No two books have the same title and authors.

How it is fast: Python builds a few tables of *parts* (100,003 titles, 50,021 descriptions,
20,011 author lists, 1,009 subject sets, 300 publishers), each folded once by the service's own
code. The database then makes the books itself, in one ``INSERT ... SELECT`` over a counter,
book ``i`` taking part ``(i * prime) % size`` from each table (distinct primes, so title and
authors never repeat together), with its ISBN, year, language and dates computed from ``i``.
Around that, the usual bulk-load routine: the secondary indexes, search triggers and (on
PostgreSQL) foreign keys are dropped and then created again from their own stored definitions
(on PostgreSQL the search index on one core while the rest are built on the other), and the
SQLite search index is filled in one statement. So run it with the service stopped, on a
database you could seed again: it trades crash safety for speed while it runs. The derived
columns are exactly what the service computes (tests/unit/test_catalog_seed.py checks it).

Seeded books have no history entries; the live-book count and the id sequence are kept right,
so the service works on a seeded database as on any other.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

from books_service.config import BooksSettings
from books_service.records import AUTHORS_JOINER, fold, words
from common import migrations
from common.db import create_db_engine

VOCABULARY_SIZE = 4000
TITLES, DESCRIPTIONS, AUTHOR_LISTS, SUBJECT_SETS, PUBLISHERS = 100_003, 50_021, 20_011, 1_009, 300
SYLLABLES = (  # noqa: SIM905
    "ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo fu ga ge go gu la le li lo lu "
    "ma me mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to "
    "tu va ve vi vo vu ção são lá mé tó rã nhe lhe cha que gui xo zé"
).split()
FIRST_NAMES = (  # noqa: SIM905
    "Ana Bruno Carla Diego Elisa Fábio Gabriela Hugo Inês João Karina Luís Marta Nuno Olga "
    "Paulo Quitéria Rui Sofia Tomás Úrsula Vítor Wagner Xênia Yara Zélia Antônio Beatriz "
    "Cecília Davi Érica Flávia Gustavo Helena Ícaro Júlia Lívia Márcio Natália Otávio "
    "Patrícia Rafael Sérgio Tânia Valéria William Alice Bento Clarice Dalton Ester Fernão "
    "Graça Heitor Irene"
).split()
SUBJECTS = (  # noqa: SIM905
    "Romance;Poesia;História;Ciência;Infantil;Drama;Ensaio;Viagem;Biografia;Filosofia;Arte;"
    "Culinária;Música;Religião;Política;Economia;Direito;Educação;Saúde;Esporte;Tecnologia;"
    "Fantasia;Ficção científica;Policial;Terror;Humor;Crônica;Conto;Teatro;Fotografia;"
    "Arquitetura;Natureza;Astronomia;Matemática;Psicologia;Sociologia;Linguística;Geografia;"
    "Quadrinhos;Autoajuda"
).split(";")
START = datetime(2015, 1, 1, tzinfo=UTC)
# Multipliers picking each book's parts: primes, none dividing a table's size.
PICK = {"title": 7919, "description": 104_729, "authors": 15_485_863, "subjects": 32_452_843}


def _spell(rng: random.Random, syllables: int) -> str:
    # Starting with a plain syllable keeps str.capitalize() and SQL alike.
    return rng.choice(SYLLABLES[:75]) + "".join(rng.choice(SYLLABLES) for _ in range(syllables - 1))


@dataclass
class Parts:
    """The pieces books are made of, as rows of the ``seed_*`` tables."""

    titles: list[tuple[int, str, str, str]]  # n, title, title_key, title words
    descriptions: list[tuple[int, str, str]]  # n, description, its words
    authors: list[tuple[int, str, str, str, str, str]]  # n, author, authors JSON, author_key,
    # folded names for search, names for the duplicate key
    author_keys: list[tuple[int, str]]  # n, a name the author filter finds the book by
    subjects: list[tuple[int, str, str]]  # n, subjects JSON, folded subjects for search
    subject_keys: list[tuple[int, str]]
    publishers: list[tuple[int, str, str, str]]  # n, publisher, folded, its words
    # n (0..999), its three digits, and their weighted sums at each place in an ISBN: check
    # digits become three lookups and an addition instead of digit arithmetic per book.
    digits: list[tuple[int, str, int, int, int, int, int]]


def _vocabulary(rng: random.Random) -> list[str]:
    words: dict[str, str] = {}
    while len(words) < VOCABULARY_SIZE:
        word = _spell(rng, rng.choice((2, 2, 3, 3, 4)))
        words.setdefault(fold(word), word)
    return list(words.values())


def vocabulary(seed: int = 42) -> list[str]:
    """The words books are made of, most frequent first (the word of rank r is drawn with
    weight 1/r)."""
    return _vocabulary(random.Random(seed))


@functools.lru_cache(maxsize=2)
def make_parts(seed: int = 42) -> Parts:
    """The parts books are made of, the same for a seed value every time: kept, since folding
    them takes seconds and a process may seed several catalogs (the tests, two trees of a
    side-by-side bench). Read only by :func:`seed`."""
    rng = random.Random(seed)
    spelled = _vocabulary(rng)
    zipf = list(itertools.accumulate(1 / rank for rank in range(1, len(spelled) + 1)))

    def phrase(low: int, high: int) -> str:
        return " ".join(rng.choices(spelled, cum_weights=zipf, k=rng.randint(low, high)))

    surnames = list(dict.fromkeys(_spell(rng, 3).capitalize() for _ in range(400)))[:PUBLISHERS]
    names = [f"{first} {last}" for first in FIRST_NAMES for last in surnames]
    name_weights = list(itertools.accumulate(1 / r**0.8 for r in range(1, len(names) + 1)))
    parts = Parts([], [], [], [], [], [], [], [])
    for n in range(TITLES):
        title = phrase(2, 5).capitalize()
        parts.titles.append((n, title, words(title), words(title)))
    for n in range(DESCRIPTIONS):
        description = phrase(4, 10).capitalize() + "."
        parts.descriptions.append((n, description, words(description)))
    for n in range(AUTHOR_LISTS):
        authors = rng.choices(names, cum_weights=name_weights, k=1 if rng.random() < 0.9 else 2)
        authors = list(dict.fromkeys(authors))
        author = AUTHORS_JOINER.join(authors)
        parts.authors.append(
            (
                n,
                author,
                json.dumps(authors),
                words(author),
                " ".join(words(a) for a in authors),
                "\x1e".join(words(a) for a in authors),
            )
        )
        keys = {fold(a) for a in authors} | {fold(author)}
        parts.author_keys += [(n, key) for key in sorted(keys)]
    for n in range(SUBJECT_SETS):
        subjects = rng.sample(SUBJECTS, rng.randint(0, 3))
        parts.subjects.append((n, json.dumps(subjects), " ".join(words(s) for s in subjects)))
        parts.subject_keys += [(n, fold(s)) for s in subjects]
    parts.publishers = [
        (n, name, fold(name), words(name))
        for n, name in enumerate(f"Editora {s}" for s in surnames)
    ]
    for n in range(1000):
        d = [int(c) for c in f"{n:03d}"]

        def weigh(weights: tuple[int, int, int], d: list[int] = d) -> int:
            return sum(w * x for w, x in zip(weights, d, strict=True))

        parts.digits.append(
            (
                n,
                f"{n:03d}",
                weigh((3, 1, 3)),
                weigh((1, 3, 1)),
                weigh((10, 9, 8)),
                weigh((7, 6, 5)),
                weigh((4, 3, 2)),
            )
        )
    return parts


PART_TABLES = {
    "seed_titles": ("n", "title", "title_key", "title_words"),
    "seed_descriptions": ("n", "description", "search"),
    "seed_authors": ("n", "author", "authors", "author_key", "search", "names"),
    "seed_author_keys": ("n", "name_key"),
    "seed_subjects": ("n", "subjects", "search"),
    "seed_subject_keys": ("n", "subject_key"),
    "seed_publishers": ("n", "publisher", "folded", "search"),
    "seed_digits": ("n", "digits", "w313", "w131", "w1098", "w765", "w432"),
}


def _rows(parts: Parts, table: str) -> Sequence[tuple[object, ...]]:
    return getattr(parts, table.removeprefix("seed_"))


class Dialect:
    """The few SQL spellings that differ between SQLite and PostgreSQL."""

    def __init__(self, name: str) -> None:
        self.sqlite = name == "sqlite"

    def sha256(self, expression: str) -> str:
        if self.sqlite:
            return f"seed_sha256({expression})"  # a Python function, registered on the connection
        return f"encode(sha256(convert_to({expression}, 'UTF8')), 'hex')"

    def created_at(self, i: str) -> str:
        epoch = int(START.timestamp())
        if self.sqlite:  # SQLAlchemy's storage format for DateTime
            return f"strftime('%Y-%m-%d %H:%M:%S', {epoch} + {i} * 13, 'unixepoch') || '.000000'"
        return f"to_timestamp({epoch} + {i} * 13)"

    def counter(self, first: int, last: int) -> str:
        if self.sqlite:
            return (
                f"(WITH RECURSIVE c(i) AS (SELECT {first} UNION ALL "
                f"SELECT i + 1 FROM c WHERE i < {last}) SELECT i FROM c) AS c"
            )
        return f"generate_series(CAST({first} AS BIGINT), {last}) AS c(i)"

    def json(self, expression: str) -> str:
        return expression if self.sqlite else f"CAST({expression} AS JSON)"

    def char(self, code: int) -> str:
        return f"char({code})" if self.sqlite else f"chr({code})"


def book_select(dialect: Dialect, first: int, last: int) -> str:
    """The SELECT making books ``first``..``last`` (columns in BOOK_COLUMNS order)."""
    i = "c.i"
    # ISBN 978 + the book number on 9 digits, from three 3-digit groups (g1, g2, g3).
    digits9 = "g1.digits || g2.digits || g3.digits"
    check13 = "(10 - (38 + g1.w313 + g2.w131 + g3.w313) % 10) % 10"  # 38: "978" weighed
    check10 = "((11 - (g1.w1098 + g2.w765 + g3.w432) % 11) % 11)"
    isbn13 = f"('978' || {digits9} || CAST({check13} AS TEXT))"
    isbn10 = f"({digits9} || CASE WHEN {check10} = 10 THEN 'x' ELSE CAST({check10} AS TEXT) END)"
    has_isbn = f"({i} * 7) % 10 < 7"
    year = f"(2025 - (({i} * 2654435761) % 176) * (({i} * 40503) % 176) / 176)"
    language = (
        f"CASE WHEN ({i} * 37) % 20 < 10 THEN 'pt' WHEN ({i} * 37) % 20 < 16 THEN 'en' "
        f"WHEN ({i} * 37) % 20 < 18 THEN 'es' WHEN ({i} * 37) % 20 = 18 THEN 'fr' ELSE 'de' END"
    )
    search = (
        "a.search || CASE WHEN s.search <> '' THEN ' ' || s.search ELSE '' END"
        " || ' ' || p.search || ' ' || d.search"
        f" || CASE WHEN {has_isbn} THEN ' ' || {isbn13} || ' ' || {isbn10} ELSE '' END"
    )
    created = dialect.created_at(i)
    return f"""
        SELECT {i}, t.title, NULL, a.author, {dialect.json("a.authors")},
            CASE WHEN {has_isbn} THEN {isbn13} END, p.publisher, {year}, NULL, {language},
            48 + ({i} * 31) % 853, {dialect.json("s.subjects")}, d.description, NULL, NULL, NULL, 1,
            t.title_key, a.author_key, p.folded, {year},
            {dialect.sha256(f"t.title_words || {dialect.char(31)} || a.names")},
            {search}, 1, {created}, {created}, 'seed', 'seed', NULL, NULL
        FROM {dialect.counter(first, last)}
        JOIN seed_titles t ON t.n = ({i} * {PICK["title"]}) % {TITLES}
        JOIN seed_descriptions d ON d.n = ({i} * {PICK["description"]}) % {DESCRIPTIONS}
        JOIN seed_authors a ON a.n = ({i} * {PICK["authors"]}) % {AUTHOR_LISTS}
        JOIN seed_subjects s ON s.n = ({i} * {PICK["subjects"]}) % {SUBJECT_SETS}
        JOIN seed_publishers p ON p.n = ({i} * 13) % {PUBLISHERS}
        JOIN seed_digits g1 ON g1.n = {i} / 1000000
        JOIN seed_digits g2 ON g2.n = ({i} / 1000) % 1000
        JOIN seed_digits g3 ON g3.n = {i} % 1000
    """


BOOK_COLUMNS = (  # noqa: SIM905
    "id title subtitle author authors isbn publisher published_year published_date language "
    "page_count subjects description cover_url series series_index copies title_key "
    "author_key publisher_key year_sort duplicate_key search_text version created_at "
    "updated_at created_by updated_by deleted_at deleted_by"
).split()


def _secondary_objects(connection: Connection, dialect: Dialect) -> list[tuple[str, str, str]]:
    """(kind, name, SQL that creates it) of every index and trigger on the tables being filled,
    primary keys aside: dropped for the load and created again from these very definitions."""
    if dialect.sqlite:
        query = (
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
            "AND tbl_name IN ('books', 'book_authors', 'book_subjects') AND sql IS NOT NULL"
        )
    else:
        query = (
            "SELECT 'index', indexname, indexdef FROM pg_indexes "
            "WHERE tablename IN ('books', 'book_authors', 'book_subjects') AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE contype = 'p')"
        )
    return [(kind, name, sql) for kind, name, sql in connection.execute(text(query)).all()]


def _create_parts(connection: Connection, parts: Parts, dialect: Dialect) -> None:
    raw = connection.connection.driver_connection
    for table, columns in PART_TABLES.items():
        one_per_part = table not in ("seed_author_keys", "seed_subject_keys")
        # A primary key on n makes each pick a direct row lookup.
        key = ("INTEGER" if dialect.sqlite else "BIGINT") + (" PRIMARY KEY" if one_per_part else "")
        types = ", ".join(
            f"{c} {key if c == 'n' else 'INTEGER' if c.startswith('w') else 'TEXT'}"
            for c in columns
        )
        connection.execute(text(f"CREATE TEMPORARY TABLE {table} ({types})"))
        rows = _rows(parts, table)
        if dialect.sqlite:
            marks = ", ".join("?" for _ in columns)
            raw.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        else:
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        if not one_per_part:
            connection.execute(text(f"CREATE INDEX {table}_n ON {table} (n)"))
    if dialect.sqlite:
        raw.create_function(
            "seed_sha256", 1, lambda s: hashlib.sha256(s.encode()).hexdigest(), deterministic=True
        )


def _foreign_keys(connection: Connection) -> list[tuple[str, str, str]]:
    """(table, name, definition) of PostgreSQL's foreign keys to ``books``: checked once when
    added back, instead of once per row during the load."""
    rows = connection.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' AND confrelid = 'books'::regclass"
        )
    ).all()
    return [(table, name, definition) for table, name, definition in rows]


def seed(
    database_url: str, count: int, seed_value: int = 42, report: Callable[[str], None] = print
) -> float:
    """Add ``count`` generated books after the existing ones; returns the seconds it took and
    ``report``s where they went."""
    migrations.upgrade("books", database_url)
    engine = create_db_engine(database_url)
    dialect = Dialect(engine.dialect.name)
    started = phase = time.perf_counter()

    def done(what: str) -> None:
        nonlocal phase
        report(f"  {what}: {time.perf_counter() - phase:.1f} s")
        phase = time.perf_counter()

    parts = make_parts(seed_value)
    done("parts folded")
    try:
        with engine.connect() as connection:
            raw = connection.connection.driver_connection
            if dialect.sqlite:
                # A seed that dies half-way is simply run again: no need to wait for the disk,
                # nor to check each row's foreign keys (the rows are made consistent).
                raw.execute("PRAGMA synchronous = OFF")
                raw.execute("PRAGMA foreign_keys = OFF")
                raw.execute("PRAGMA cache_size = -400000")  # KiB: indexes are built in memory
                raw.execute("PRAGMA threads = 2")  # index sorts on both cores
            with connection.begin():
                first = 1 + int(
                    connection.execute(text("SELECT COALESCE(MAX(id), 0) FROM books")).scalar() or 0
                )
                saved = _secondary_objects(connection, dialect)
                for kind, name, _ in saved:
                    connection.execute(text(f'DROP {kind.upper()} "{name}"'))
                foreign_keys = [] if dialect.sqlite else _foreign_keys(connection)
                for table, name, _ in foreign_keys:
                    connection.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
                if dialect.sqlite:
                    _load(connection, parts, dialect, first, first + count - 1)
            if not dialect.sqlite:
                # Committed first: the loaders need the indexes gone, and run beside each other.
                # So a load that fails must put the database back as it found it itself.
                try:
                    _load_postgres(engine, parts, dialect, first, first + count - 1)
                except BaseException:
                    _undo_postgres_load(engine, first, [sql for _, _, sql in saved], foreign_keys)
                    raise
            done(f"{count:,} books loaded")
            with connection.begin():
                connection.execute(
                    text(
                        "UPDATE book_counts SET live = live + :n, changes = changes + 1 "
                        "WHERE slot = 0"
                    ),
                    {"n": count},
                )
                if dialect.sqlite:
                    for _, _, sql in sorted(saved, key=lambda item: item[0] != "index"):
                        connection.execute(text(sql))
                    done("indexes and triggers created")
                    connection.execute(
                        text(
                            "INSERT INTO books_fts (rowid, title_key, author_key, search_text) "
                            "SELECT id, title_key, author_key, search_text FROM books "
                            "WHERE id >= :first AND deleted_at IS NULL"
                        ),
                        {"first": first},
                    )
                    done("search index filled")
                else:  # ids were given, so the id sequence must be moved past them
                    connection.execute(
                        text(
                            "SELECT setval(pg_get_serial_sequence('books', 'id'), MAX(id)) "
                            "FROM books"
                        )
                    )
        if not dialect.sqlite:
            _build_postgres_indexes(engine, [sql for _, _, sql in saved], foreign_keys)
            done("indexes built")
            # As autovacuum would soon: PostgreSQL plans from statistics. (SQLite has none
            # unless someone runs ANALYZE, and the service must not depend on them.)
            with engine.connect() as connection:
                connection.execute(text("ANALYZE"))
                connection.commit()
            done("analyzed")
    finally:
        engine.dispose()
    return time.perf_counter() - started


def _load(connection: Connection, parts: Parts, dialect: Dialect, first: int, last: int) -> None:
    _create_parts(connection, parts, dialect)  # temporary tables: one set per connection
    for statement in _load_statements(dialect, first, last):
        connection.execute(text(statement))


def _load_postgres(engine: Engine, parts: Parts, dialect: Dialect, first: int, last: int) -> None:
    """Books ``first``..``last`` in two halves at once, one per core: each row's search vector
    (a generated column) is computed as it is inserted, which keeps one core busy."""
    middle = (first + last) // 2

    def run(low: int, high: int) -> None:
        with engine.connect() as connection, connection.begin():
            _load(connection, parts, dialect, low, high)

    with ThreadPoolExecutor(max_workers=2) as pool:
        halves = [(first, middle), (middle + 1, last)]
        for future in [pool.submit(run, low, high) for low, high in halves if low <= high]:
            future.result()


def _undo_postgres_load(
    engine: Engine, first: int, indexes: list[str], foreign_keys: list[tuple[str, str, str]]
) -> None:
    """After a failed load: the books it added (a half may have committed) go, and the indexes
    and foreign keys dropped for it come back."""
    with engine.connect() as connection, connection.begin():
        for table, column in (("book_subjects", "book_id"), ("book_authors", "book_id")):
            connection.execute(
                text(f"DELETE FROM {table} WHERE {column} >= :first"), {"first": first}
            )
        connection.execute(text("DELETE FROM books WHERE id >= :first"), {"first": first})
    _build_postgres_indexes(engine, indexes, foreign_keys)


def _load_statements(dialect: Dialect, first: int, last: int) -> list[str]:
    i = "c.i"
    return [
        f"INSERT INTO books ({', '.join(BOOK_COLUMNS)}) " + book_select(dialect, first, last),
        f"INSERT INTO book_authors (book_id, name_key) SELECT {i}, k.name_key "
        f"FROM {dialect.counter(first, last)} JOIN seed_author_keys k "
        f"ON k.n = ({i} * {PICK['authors']}) % {AUTHOR_LISTS}",
        f"INSERT INTO book_subjects (book_id, subject_key) SELECT {i}, k.subject_key "
        f"FROM {dialect.counter(first, last)} JOIN seed_subject_keys k "
        f"ON k.n = ({i} * {PICK['subjects']}) % {SUBJECT_SETS}",
    ]


def _build_postgres_indexes(
    engine: Engine, indexes: list[str], foreign_keys: list[tuple[str, str, str]]
) -> None:
    """The search index (the longest to build) on one connection while the others and the
    foreign keys are built on another: both cores at work."""
    statements = [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
        for table, name, definition in foreign_keys
    ]
    gin = [sql for sql in indexes if "USING gin" in sql]
    rest = [sql for sql in indexes if sql not in gin] + statements

    def run(batch: list[str]) -> None:
        with engine.connect() as connection, connection.begin():
            connection.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
            for sql in batch:
                connection.execute(text(sql))

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(run, gin), pool.submit(run, rest)]:
            future.result()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__)
    parser.add_argument("--books", type=int, required=True, help="how many books to add")
    parser.add_argument("--database", help="default: the service's BOOKS_DATABASE_URL")
    parser.add_argument("--seed", type=int, default=42, help="same seed, same books")
    args = parser.parse_args()
    url = args.database or BooksSettings().database_url
    seconds = seed(url, args.books, args.seed, report=lambda line: print(line, file=sys.stderr))
    print(f"seeded {args.books:,} books in {seconds:.1f} s ({args.books / seconds:,.0f} books/s)")


if __name__ == "__main__":
    main()
