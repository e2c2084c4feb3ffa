"""What one ``POST /books`` write costs on PostgreSQL, in process, or (``--change``) one
``PUT /books/<id>``: the client's CPU (``time.process_time``, one thread), the server
process's CPU (its ``/proc/<pid>/stat``, the pool held to one connection) and the wall time,
per book written the way a request writes it (:func:`books_service.book_writes.add`,
:func:`~books_service.book_writes.replace`), without HTTP, Flask or the book's JSON. Run it
from two checkouts, taking turns, to compare their writes::

    .venv/bin/python -m bench.write_cost --writes 2000
    (cd ../other-checkout && /path/to/.venv/bin/python -m bench.write_cost --writes 2000)

A new database each run (dropped after), migrated, analyzed after the first books; titles
and authors only, as ``bench.ceiling_compare`` posts them, or (``--isbn``) with an ISBN each.
A change gives each of the books added a new title and author, as ``bench.ceiling_compare``
puts them, with the version it was read at (``If-Match``).
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from pathlib import Path

from bench.catalog import analyze_database, drop_database, fresh_database
from books_service import book_writes, catalog
from books_service.book_rules import validate_book
from common.db import Database
from common.migrations import upgrade


def server_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def book(tag: str, n: int, *, isbn: bool) -> dict[str, str]:
    fields = {"title": f"Cost {tag} {n}", "author": f"Author {n % 37}"}
    if isbn:  # 979-10-..., a valid check digit for each n
        body = f"97910{n:07d}"
        total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
        fields["isbn"] = body + str((10 - total % 10) % 10)
    return fields


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.write_cost", description=__doc__)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--warm", type=int, default=200, help="books added before timing")
    parser.add_argument("--isbn", action="store_true", help="each book with an ISBN")
    parser.add_argument("--change", action="store_true", help="time PUTs of the books added")
    args = parser.parse_args()
    url, name = fresh_database("postgres", Path("."), prefix="estante_write_cost")
    try:
        upgrade("books", url)
        db = Database(url, pool_size=1, max_overflow=0)
        with db.engine.connect() as connection:
            pid = int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        tag = uuid.uuid4().hex[:6]
        books = [
            catalog.new_book(validate_book(book(tag, n, isbn=args.isbn)), by="x")
            for n in range(args.warm + args.writes)
        ]
        written = [book_writes.add(db, new).id for new in books[: args.warm]]
        analyze_database(name)
        if args.change:
            written += [book_writes.add(db, new).id for new in books[args.warm :]]
            analyze_database(name)
            changes = [
                (book_id, validate_book(book(f"{tag}c", n, isbn=args.isbn)))
                for n, book_id in enumerate(written[args.warm :], start=args.warm)
            ]
        server, client, wall = server_cpu_seconds(pid), time.process_time(), time.perf_counter()
        if args.change:
            for book_id, record in changes:
                book_writes.replace(
                    db,
                    book_id,
                    record,
                    by="x",
                    versions=lambda version: version == 1,
                    allow_duplicate=False,
                )
        else:
            for new in books[args.warm :]:
                book_writes.add(db, new)
        server = server_cpu_seconds(pid) - server
        client, wall = time.process_time() - client, time.perf_counter() - wall
        db.dispose()
        per, kind = 1e6 / args.writes, "PUT" if args.change else "POST"
        print(
            f"{args.writes} {kind} writes: client {client * per:.0f} µs, "
            f"server {server * per:.0f} µs, wall {wall * per:.0f} µs a book"
        )
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
