"""The catalog at scale: ``make bench`` seeds 1k, 100k and 1M books on SQLite and PostgreSQL and
measures, with wrk, what readers do most: the first page, a deep page (by cursor), a search for
a book (a word of its title and its author's surname), a search for a common word (in about
1.2 % of the books), searches for common words that miss the page cache (441 different pages in
turn, as on a catalog being written to: a repeated URL is served from the cache after its first
request), and a book by id.

    .venv/bin/python -m bench.catalog [--sizes 1000,100000,1000000] [--backends sqlite,postgres]
                                      [--seconds 6] [--rounds 3] [--out FILE]

For each database and size: a fresh database, seeded by bench/seed.py; the Books Service started
as in production (Granian, 2 workers x 4 threads); every endpoint warmed up, then loaded by wrk
(2 threads, 8 connections) for ``--seconds``, endpoints taking turns, ``--rounds`` times. The
table gives the median of the rounds; the ratios the issue's targets are about follow it. wrk
runs on the same machine as the service and the database, so absolute numbers are low; compare
within one run. It needs wrk (installed with apt-get when missing and possible) and, for
PostgreSQL, the server named by ESTANTE_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
import requests
from psycopg import sql

from bench.seed import seed, vocabulary
from bench.servers import spawn, wrk
from common.config import PROJECT_ROOT
from common.pagination import Cursor
from tests.support.harness import free_port, wait_until_healthy

POSTGRES_ADMIN = os.environ.get(
    "ESTANTE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
UNCACHED_SEARCH = "search: common words, uncached"
ENDPOINTS = (
    "first page",
    "deep page",
    "search: a book",
    "search: a common word",
    UNCACHED_SEARCH,
    "get by id",
)
# The 100th most frequent word: in about 1.2 % of the books, whatever their number.
COMMON_WORD_RANK = 100
# The uncached searches: the words of ranks 90-110 at 21 page sizes each, 441 different pages
# asked in turn, more than a worker's page cache keeps (books_service.page_cache.MAX_PAGES), so
# every request builds its page as it would on a catalog being written to.
UNCACHED_WORDS = range(COMMON_WORD_RANK - 10, COMMON_WORD_RANK + 11)
UNCACHED_LIMITS = range(40, 61)


def ensure_wrk() -> bool:
    if shutil.which("wrk"):
        return True
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        print("wrk not found: installing it with apt-get", file=sys.stderr)
        subprocess.run([apt, "install", "-y", "-q", "wrk"], check=False)
    return shutil.which("wrk") is not None


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    with psycopg.connect(POSTGRES_ADMIN) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, PostgreSQL {postgres}"
    )


def fresh_database(
    backend: str, workdir: Path, prefix: str = "estante_bench"
) -> tuple[str, str | None]:
    """A new, empty database: a SQLite file in ``workdir``, or a PostgreSQL database named
    ``prefix`` and a random suffix (so that runs started at the same time never share one)."""
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'books.db'}", None
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}", name


def analyze_database(name: str | None) -> None:
    """PostgreSQL: ``ANALYZE`` the database named ``name``, as autovacuum would within a minute
    of a catalog's first rows (the planner picks the books' indexes from these statistics; this
    machine's server runs with autovacuum off). Nothing for SQLite (``None``)."""
    if name:
        base = POSTGRES_ADMIN.rsplit("/", 1)[0]
        with psycopg.connect(f"{base}/{name}", autocommit=True) as conn:
            conn.execute("ANALYZE")


def drop_database(name: str | None) -> None:
    if name:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass
class Cell:
    seeded_seconds: float
    targets: dict[str, str]
    matches: dict[str, int]
    runs: dict[str, list[dict[str, float]]]

    def median(self, endpoint: str, measure: str) -> float:
        return statistics.median(run[measure] for run in self.runs[endpoint])


def targets_for(base: str, size: int) -> tuple[dict[str, str], dict[str, int]]:
    """The URLs to load, found on the seeded catalog itself."""
    middle = requests.get(f"{base}/books/{size // 2}", timeout=30).json()
    title_word = middle["title"].split()[0]
    surname = middle["authors"][0].split()[-1]
    # Page 18,000 of 20,000 at a million books: a cursor as a Link header would hold it.
    deep = Cursor("id", (size * 9 // 10,), False).encode()
    urls = {
        "first page": f"{base}/books",
        "deep page": f"{base}/books?cursor={deep}",
        "search: a book": f"{base}/books?q={quote(f'{title_word} {surname}')}",
        "search: a common word": f"{base}/books?q={quote(vocabulary()[COMMON_WORD_RANK - 1])}",
        "get by id": f"{base}/books/{size // 2}",
    }
    urls[UNCACHED_SEARCH] = f"{base}/books"  # its paths come from uncached_search_script()
    matches = {}
    for name, url in urls.items():
        if name == UNCACHED_SEARCH:
            continue
        response = requests.get(url, timeout=120)
        response.raise_for_status()
        if name.startswith("search"):
            matches[name] = int(response.headers["X-Total-Count"])
    return urls, matches


@dataclass
class SeededService:
    base: str
    process: subprocess.Popen[bytes]
    seeded_seconds: float
    # The same catalog served by other trees' code (``also``): each tree's base URL and process.
    others: dict[Path, tuple[str, subprocess.Popen[bytes]]] = field(default_factory=dict)


@contextmanager
def seeded_books_service(
    backend: str,
    size: int,
    name: str,
    *,
    prefix: str = "estante_bench",
    also: tuple[Path, ...] = (),
) -> Iterator[SeededService]:
    """A fresh database of ``size`` generated books and the Books Service on it, started as in
    production (Granian, 2 workers x 4 threads) and healthy; stopped and dropped afterwards.
    ``also``: other project trees (another branch's worktree) whose Books Service is started
    on the same database too, so that two versions of the code are measured on one catalog."""
    workdir = Path(tempfile.mkdtemp(prefix=f"estante-bench-{name}-"))
    url, pg_name = fresh_database(backend, workdir, prefix)
    try:
        print(f"{backend}, {size:,} books: seeding", file=sys.stderr)
        took = seed(url, size, report=lambda line: print(line, file=sys.stderr))
        with ExitStack() as services:
            base, process = services.enter_context(_books_service(PROJECT_ROOT, url, workdir))
            others = {
                root: services.enter_context(_books_service(root, url, workdir)) for root in also
            }
            yield SeededService(base, process, took, others)
    finally:
        drop_database(pg_name)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def _books_service(
    root: Path, url: str, workdir: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The Books Service of the project tree ``root`` on the database ``url``, healthy."""
    port = free_port()
    env = {
        **os.environ,
        "ESTANTE_DATA_DIR": str(workdir),
        "BOOKS_DATABASE_URL": url,
        "BOOKS_PORT": str(port),
        "ESTANTE_WORKERS": "2",
        "ESTANTE_THREADS": "4",
        "ESTANTE_LOG_LEVEL": "WARNING",
        "AUTH_JWKS_URL": "http://127.0.0.1:9/unused",  # reads and exports need no token
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = spawn(
        [sys.executable, str(root / "books_service" / "books_service.py")], env=env, cwd=workdir
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, process, timeout=120)
        yield base, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def uncached_search_script(directory: Path) -> Path:
    """A wrk script asking for the uncached searches' pages in turn (see UNCACHED_WORDS)."""
    words = vocabulary()
    paths = [
        f"/books?q={quote(words[rank - 1])}&limit={limit}"
        for limit in UNCACHED_LIMITS
        for rank in UNCACHED_WORDS
    ]
    script = directory / "uncached-search.lua"
    script.write_text(
        "paths = {" + ",".join(f'"{path}"' for path in paths) + "}\n"
        "n = 0\n"
        "request = function()\n"
        "  n = n % #paths + 1\n"
        '  return wrk.format("GET", paths[n])\n'
        "end\n"
    )
    return script


def measure(backend: str, size: int, seconds: int, rounds: int) -> Cell:
    with (
        seeded_books_service(backend, size, "catalog") as service,
        tempfile.TemporaryDirectory() as scripts,
    ):
        urls, matches = targets_for(service.base, size)
        script = {UNCACHED_SEARCH: uncached_search_script(Path(scripts))}
        for name, target in urls.items():  # warm both workers and the caches
            wrk(target, 2, 8, script.get(name))
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
        for round_ in range(rounds):
            for name, target in urls.items():
                runs[name].append(wrk(target, seconds, 8, script.get(name)))
                print(f"  round {round_ + 1} {name}: {runs[name][-1]}", file=sys.stderr)
        return Cell(service.seeded_seconds, urls, matches, runs)


def report(cells: dict[tuple[str, int], Cell], args: argparse.Namespace) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}.",
        f"wrk -t2 -c8, {args.seconds} s per endpoint, {args.rounds} rounds taking turns, "
        "medians; the service as in production (Granian, 2 workers x 4 threads), wrk and the "
        "database on the same cores.",
        "",
        "| database | books | seeded in | endpoint | matches | req/s | p50 ms | p99 ms | non-2xx |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (backend, size), cell in cells.items():
        for endpoint in ENDPOINTS:
            lines.append(
                f"| {backend} | {size:,} | {cell.seeded_seconds:.0f} s | {endpoint} "
                f"| {cell.matches.get(endpoint, '')} | {cell.median(endpoint, 'rps'):.0f} "
                f"| {cell.median(endpoint, 'p50'):.1f} | {cell.median(endpoint, 'p99'):.1f} "
                f"| {sum(r['errors'] for r in cell.runs[endpoint]):.0f} |"
            )
    lines += ["", "Targets (p99 ratios; met when at most the target):", ""]
    sizes = sorted({size for _, size in cells})
    small, large = sizes[0], sizes[-1]
    for backend in dict.fromkeys(b for b, _ in cells):
        if (backend, small) not in cells or (backend, large) not in cells:
            continue
        lo, hi = cells[(backend, small)], cells[(backend, large)]
        checks = [
            (
                f"first page at {large:,} / at {small:,}",
                hi.median("first page", "p99") / lo.median("first page", "p99"),
                2.0,
            ),
            *(
                (
                    f"{name} at {large:,} / at {small:,}",
                    hi.median(name, "p99") / lo.median(name, "p99"),
                    2.0,
                )
                for name in ("search: a book", "search: a common word", UNCACHED_SEARCH)
            ),
            (
                f"deep page / first page at {large:,}",
                hi.median("deep page", "p99") / hi.median("first page", "p99"),
                1.2,
            ),
        ]
        for label, ratio, target in checks:
            verdict = "met" if ratio <= target else "**missed**"
            lines.append(f"- {backend}: {label} = {ratio:.2f} (target {target}): {verdict}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.catalog", description=__doc__)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=PROJECT_ROOT / "bench" / "results" / "catalog.md"
    )
    args = parser.parse_args()
    if not ensure_wrk():
        print("make bench: skipped, it needs wrk (apt-get install wrk)", file=sys.stderr)
        return
    cells = {}
    for backend in args.backends.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            cells[(backend, size)] = measure(backend, size, args.seconds, args.rounds)
    text = report(cells, args)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
