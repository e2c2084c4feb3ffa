"""Seed a books database with N generated books, fast: ``python -m bench.seed --books 1000000``.

Rows are generated in Python (with the same derived keys the service computes) and written in
large batches, with the search index built once at the end: about half a minute for a million
books on SQLite here. The database is migrated first; existing books are kept.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from books_service.config import BooksSettings
from books_service.models import Book, BookSubject
from common import migrations
from common.db import Database
from common.text import fold

WORDS = (
    "amor",
    "tempo",
    "casa",
    "noite",
    "mar",
    "cidade",
    "rio",
    "sol",
    "lua",
    "vento",
    "pedra",
    "livro",
    "guerra",
    "paz",
    "sonho",
    "caminho",
    "jardim",
    "memória",
    "silêncio",
    "fogo",
    "terra",
    "céu",
    "estrela",
    "viagem",
    "segredo",
    "sombra",
    "luz",
    "história",
    "canção",
    "montanha",
    "floresta",
    "deserto",
    "ilha",
    "porto",
    "janela",
    "espelho",
    "relógio",
    "carta",
)
NAMES = (
    "Ana",
    "Bruno",
    "Carla",
    "Diego",
    "Elisa",
    "Fábio",
    "Gabriela",
    "Hugo",
    "Inês",
    "João",
    "Karina",
    "Luís",
    "Marta",
)
SURNAMES = (
    "Silva",
    "Souza",
    "Costa",
    "Santos",
    "Oliveira",
    "Pereira",
    "Lima",
    "Carvalho",
    "Almeida",
    "Ribeiro",
)
SUBJECTS = ["Romance", "Poesia", "História", "Ciência", "Infantil", "Drama", "Ensaio", "Viagem"]
BATCH = 20_000


def generate(count: int, seed: int = 42) -> Iterator[dict[str, Any]]:
    """Books whose derived keys equal what the service computes (a test checks it), built from
    words folded once, not per row: seeding a million rows is bound by this loop."""
    rng = random.Random(seed)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    folded = {w: fold(w) for w in (*WORDS, *NAMES, *SURNAMES, *SUBJECTS)}
    for i in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(2, 5))]
        title = f"{' '.join(words).capitalize()} {i}"
        first, last = rng.choice(NAMES), rng.choice(SURNAMES)
        author = f"{first} {last}"
        subjects = rng.sample(SUBJECTS, rng.randint(0, 2))
        publisher = rng.choice(SURNAMES)
        title_key = " ".join(folded[w] for w in words) + f" {i}"
        author_key = f"{folded[first]} {folded[last]}"
        publisher_key = f"{folded[publisher]} editora"
        search = [title_key, author_key, author_key, *(folded[s] for s in subjects), publisher_key]
        moment = start + timedelta(seconds=i * 7)
        yield {
            "title": title,
            "author": author,
            "authors": [author],
            "subjects": subjects,
            "publisher": f"{publisher} Editora",
            "title_key": title_key,
            "author_key": author_key,
            "publisher_key": publisher_key,
            "duplicate_key": f"{title_key}\x1f{author_key}",
            "search_text": " ".join(search),
            "language": rng.choice(["pt", "en", "es"]),
            "published_year": rng.randint(1850, 2025),
            "copies": 1,
            "version": 1,
            "created_at": moment,
            "updated_at": moment,
            "created_by": "seed",
            "updated_by": "seed",
        }


def seed(database_url: str, count: int) -> float:
    migrations.upgrade("books", database_url)
    db = Database(database_url)
    started = time.perf_counter()
    try:
        batch: list[dict[str, Any]] = []
        with db.transaction() as session:
            first_id = (
                session.execute(text("SELECT COALESCE(MAX(id), 0) FROM books")).scalar() or 0
            ) + 1
            subjects: list[dict[str, Any]] = []
            for offset, row in enumerate(generate(count)):
                row["id"] = first_id + offset
                batch.append(row)
                subjects += [
                    {"book_id": row["id"], "subject_key": s.casefold()} for s in row["subjects"]
                ]
                if len(batch) >= BATCH:
                    session.execute(Book.__table__.insert(), batch)
                    session.execute(BookSubject.__table__.insert(), subjects)
                    batch, subjects = [], []
            if batch:
                session.execute(Book.__table__.insert(), batch)
                session.execute(BookSubject.__table__.insert(), subjects)
            if session.get_bind().dialect.name == "sqlite":
                session.execute(
                    text(
                        "INSERT INTO books_fts (rowid, search_text) "
                        "SELECT id, search_text FROM books WHERE id >= :first"
                    ),
                    {"first": first_id},
                )
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as connection:
                connection.execute(text("ANALYZE books"))
                connection.commit()
    finally:
        db.dispose()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.seed")
    parser.add_argument("--books", type=int, required=True)
    parser.add_argument("--database", help="default: the books service's BOOKS_DATABASE_URL")
    args = parser.parse_args()
    url = args.database or BooksSettings().database_url
    seconds = seed(url, args.books)
    print(f"seeded {args.books} books in {seconds:.1f} s ({args.books / seconds:,.0f} rows/s)")


if __name__ == "__main__":
    main()
