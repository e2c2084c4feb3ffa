"""The catalog at scale: ``make bench`` seeds 1k, 100k and 1M books on SQLite and PostgreSQL
and measures, with wrk, the first page, a deep cursor page, a search and a get by id.

    .venv/bin/python -m bench.catalog [--sizes 1000,100000,1000000] [--seconds 8]

Prints a Markdown table for docs/performance.md: req/s, p50 and p99 per cell, and the ratios the
targets are about (p99 at 1M / p99 at 1k for the first page and search; deep page / first page).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from bench.seed import seed
from bench.servers import wrk
from books_service.pagination import Cursor
from common.config import PROJECT_ROOT
from tests.integration.harness import free_port, wait_until_healthy

POSTGRES_ADMIN = os.environ.get(
    "ESTANTE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def fresh_database(backend: str, workdir: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'books.db'}", None
    name = f"estante_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}", name


def drop_database(name: str | None) -> None:
    if name:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def measure(backend: str, size: int, seconds: int) -> dict[str, dict[str, float]]:
    workdir = Path(tempfile.mkdtemp(prefix="estante-bench-catalog-"))
    url, pg_name = fresh_database(backend, workdir)
    try:
        took = seed(url, size)
        print(f"{backend} {size}: seeded in {took:.1f} s", file=sys.stderr)
        port = free_port()
        env = {
            **os.environ,
            "ESTANTE_DATA_DIR": str(workdir),
            "BOOKS_DATABASE_URL": url,
            "BOOKS_PORT": str(port),
            "ESTANTE_LOG_LEVEL": "WARNING",
            "AUTH_JWKS_URL": "http://127.0.0.1:9/unused",
        }
        process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "books_service" / "books_service.py")],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base, process, timeout=120)
            deep = Cursor((size - 100,), False).encode()
            targets = {
                "first page": f"{base}/books?limit=50",
                "deep page": f"{base}/books?limit=50&cursor={deep}",
                "search": f"{base}/books?q=floresta%20janela&limit=50",
                "get by id": f"{base}/books/{size // 2}",
            }
            return {name: wrk(target, seconds, 8) for name, target in targets.items()}
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    finally:
        drop_database(pg_name)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.catalog")
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for backend in args.backends.split(","):
        for size in sizes:
            results[(backend, size)] = measure(backend, size, args.seconds)
            print(f"{backend} {size}: {results[(backend, size)]}", file=sys.stderr)
    print("| database | books | endpoint | req/s | p50 ms | p99 ms |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for (backend, size), cells in results.items():
        for endpoint, r in cells.items():
            print(
                f"| {backend} | {size:,} | {endpoint} | {r['rps']:.0f} | {r['p50']:.1f} "
                f"| {r['p99']:.1f} |"
            )
    print()
    small, large = min(sizes), max(sizes)
    for backend in args.backends.split(","):
        lo, hi = results[(backend, small)], results[(backend, large)]
        for endpoint in ("first page", "search"):
            ratio = hi[endpoint]["p99"] / lo[endpoint]["p99"]
            print(
                f"- {backend}: p99 of {endpoint} at {large:,} / at {small:,} = {ratio:.2f} "
                f"(target ≤ 2)"
            )
        deep = hi["deep page"]["p99"] / hi["first page"]["p99"]
        print(f"- {backend}: p99 deep page / first page at {large:,} = {deep:.2f} (target ≤ 1.2)")


if __name__ == "__main__":
    main()
