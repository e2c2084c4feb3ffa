"""An import in this process, without HTTP: the CPU an import job costs a row, by phase, and
optionally where it goes (cProfile). For side-by-side comparisons run the same file with another
tree's code first on the path:

    .venv/bin/python -m bench.import_profile [--rows 20000] [--backend sqlite|postgres]
                                             [--profile] [--top 40]
                                             [--db-prefix import_profile_] [--keep]
                                             [--sqlite-file F | --postgres-database NAME]
    PYTHONPATH=/work/main .venv/bin/python bench/import_profile.py ...   # main's code

A Goodreads-style file (``bench.import_export.generate``) is stored as a job on a fresh SQLite
file (or a PostgreSQL database named ``<db-prefix>*``, dropped after unless ``--keep``),
claimed, and run with ``runner.run`` as the worker thread runs it. Reported: CPU µs a row of
this process (process time) for storing the upload, the count pass and the whole job, and on
PostgreSQL the server processes' CPU (from ``/proc``, same machine), and the CPU of the child
process that reads and checks the rows while the job writes (``--one-process``: no child,
everything here). On PostgreSQL also what the whole server wrote to its WAL a row, and how
much of it was full-page images (``pg_stat_wal``), with the checkpoints taken meanwhile."""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import event

from bench.import_export import POSTGRES_ADMIN, backend_cpu, generate
from books_service.transfer import formats, jobs, runner
from common import migrations
from common.db import Database


def _server_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to ``database`` (this machine)."""
    return sum(backend_cpu(database).values())


def _wal() -> dict[str, int]:
    """The whole server's WAL counters and checkpoints so far (PostgreSQL 14+)."""
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        row = conn.execute(
            "SELECT wal_records, wal_fpi, wal_bytes, "
            "(SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) FROM pg_stat_wal"
        ).fetchone()
    assert row is not None
    return dict(zip(("records", "full pages", "bytes", "checkpoints"), map(int, row), strict=True))


def _children_cpu() -> float:
    """CPU seconds of this process's children that have ended (the job's preparing process)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _io() -> dict[str, int]:
    """This process's I/O counters (``/proc/self/io``): bytes through read/write calls and
    bytes that reached the disk."""
    with open("/proc/self/io") as counters:
        pairs = (line.split(": ") for line in counters)
        return {
            key: int(value)
            for key, value in pairs
            if key in {"rchar", "wchar", "read_bytes", "write_bytes"}
        }


def _set_pragmas(db: Database, pragmas: list[str]) -> None:
    statements = [f"PRAGMA {pragma}" for pragma in pragmas]

    @event.listens_for(db.engine, "connect")
    def _connected(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.import_profile", description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--profile", action="store_true", help="cProfile the job")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--batch-rows", type=int, default=2000)
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="read and check the rows in this process too (no child preparing the batches)",
    )
    parser.add_argument("--db-prefix", default="import_profile_", help="PostgreSQL database name")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument(
        "--sqlite-file",
        type=Path,
        help="import into this SQLite file, kept after (created when missing): a catalog that "
        "already holds books, made by an earlier run, shows what an import costs at that size",
    )
    parser.add_argument(
        "--postgres-database",
        help="import into this PostgreSQL database, kept after (created when missing): the "
        "--sqlite-file of PostgreSQL",
    )
    parser.add_argument(
        "--pragma",
        action="append",
        default=[],
        help="a SQLite PRAGMA for every connection of the job, as NAME=VALUE (repeatable): "
        "to measure a setting before making it the job's own",
    )
    parser.add_argument(
        "--first", type=int, default=1, help="the number of the file's first book (see generate)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="import-profile-") as tmp:
        path = Path(tmp) / "goodreads_library_export.csv"
        generate(path, args.rows, first=args.first)
        pg_name = None
        if args.backend == "postgres":
            pg_name = args.postgres_database or f"{args.db_prefix}{uuid.uuid4().hex[:8]}"
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (pg_name,)
                ).fetchone()
                if not exists:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(pg_name)))
            base = POSTGRES_ADMIN.rsplit("/", 1)[0]
            url = f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{pg_name}"
        else:
            url = f"sqlite:///{args.sqlite_file or Path(tmp) / 'books.db'}"
        try:
            migrations.upgrade("books", url)
            db = Database(url)
            if args.pragma:
                _set_pragmas(db, args.pragma)
            head = path.read_bytes()[: formats.HEAD_BYTES]
            t0 = time.process_time()
            with db.transaction() as session, path.open("rb") as upload:
                job = jobs.create(
                    session,
                    upload,
                    formats.inspect(head, complete=path.stat().st_size <= formats.HEAD_BYTES),
                    filename=path.name,
                    on_duplicate="skip",
                    dry_run=False,
                    by="bench",
                )
                job_id = job.id
            stored = time.process_time() - t0
            with db.transaction() as session:
                assert jobs.claim(session, 300) == job_id
            server_before = _server_cpu(pg_name) if pg_name else 0.0
            wal_before = _wal() if pg_name else {}
            profiler = cProfile.Profile() if args.profile else None
            wall = time.perf_counter()
            t0 = time.process_time()
            thread0 = time.thread_time()
            children = _children_cpu()
            io_before = _io()
            if profiler:
                profiler.enable()
            tuning = runner.Tuning(
                batch_rows=args.batch_rows, prepare_in_child=not args.one_process
            )
            state = runner.run(db, job_id, tuning)
            if profiler:
                profiler.disable()
            cpu = time.process_time() - t0
            thread = time.thread_time() - thread0
            child = _children_cpu() - children
            io = {key: _io()[key] - value for key, value in io_before.items()}
            wall = time.perf_counter() - wall
            server = (_server_cpu(pg_name) - server_before) if pg_name else 0.0
            wal = {key: _wal()[key] - value for key, value in wal_before.items()}
            with db.read() as session:
                done = jobs.get(session, job_id)
                created, rejected = done.created, done.rejected
            n = args.rows
            print(
                f"{args.backend} {n:,} rows: {state}, created {created:,}, rejected {rejected}; "
                f"store {stored / n * 1e6:.1f} µs a row, job {cpu / n * 1e6:.1f} µs a row of "
                f"CPU ({thread / n * 1e6:.1f} in the writing thread), its child preparing the "
                f"rows {child / n * 1e6:.1f} "
                f"({n / wall:,.0f} rows/s by the wall clock)"
                + (f", server {server / n * 1e6:.1f} µs a row" if pg_name else "")
            )
            print(
                "the job's I/O a row: "
                + ", ".join(f"{key} {value / n / 1024:.1f} KiB" for key, value in io.items())
            )
            if wal:
                print(
                    f"the server's WAL a row: {wal['bytes'] / n / 1024:.1f} KiB, "
                    f"{wal['records'] / n:.1f} records, {wal['full pages'] / n:.2f} full-page "
                    f"images; {wal['checkpoints']} checkpoints"
                )
            if profiler:
                stats = pstats.Stats(profiler)
                stats.sort_stats("tottime").print_stats(args.top)
                stats.sort_stats("cumulative").print_stats(args.top)
            db.engine.dispose()
        finally:
            if pg_name and (args.keep or args.postgres_database):
                print(f"kept database {pg_name}")
            elif pg_name:
                with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(pg_name)
                        )
                    )


if __name__ == "__main__":
    main()
