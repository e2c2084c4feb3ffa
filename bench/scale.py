"""Issue 12's scale target, side by side: p99 at 1M books against p99 at 1k, every request.

    .venv/bin/python -m bench.scale --backend postgres [--small URL] [--large URL]
        [--sizes 1000,1000000] [--rounds 3] [--seconds 5] [--only first-page,search-uncached]
        [--tree DIR]

Two Books Services as ``make run`` serves them (Granian, 2 workers x 4 threads) run at once, one
on a catalog of each size, with one Auth Service issuing their tokens; wrk (one thread) loads
each request on both, taking turns (the order swapped every round), so both sizes see the same
load on this shared machine. The requests are issue 12's: the first page (c=16), a book by id
(c=16), a search page (a common word, one URL, c=16), common words that miss the page cache
(441 distinct pages in turn, as ``bench.catalog`` asks them, c=16), ``POST /books``, ``PUT`` and
``PATCH`` (c=64, as ``bench.ceiling_compare`` sends them, If-Match included). Medians of the
rounds, and the ratio large / small of each p99: the target is at most 2. ``--tree`` serves
another checkout (say, main's) for a before and after.

Seeding a million books takes minutes on PostgreSQL, so ``--small`` and ``--large`` name
databases to keep (a SQLAlchemy URL; ``sqlite:////path/books.db`` for SQLite): one with no
books is seeded by bench/seed.py and kept; one that has books is used as it is. Without them,
fresh databases are seeded and dropped at the end. Writes add and change books: the POSTs of a
run stay in the catalogs (a few thousand; the report gives each catalog's size at the end).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests
from sqlalchemy import text

from bench.catalog import (
    COMMON_WORD_RANK,
    drop_database,
    ensure_wrk,
    fresh_database,
    uncached_search_script,
)
from bench.ceiling_compare import (
    PUT_IDS,
    USERNAME,
    Running,
    change_script,
    librarian_token,
    post_script,
    start,
    versions_of,
)
from bench.seed import seed, vocabulary
from bench.servers import wrk
from common.config import PROJECT_ROOT
from common.db import create_db_engine
from tests.support.harness import STRONG_PASSWORD, free_port

REQUESTS = (
    "first-page",
    "get-one",
    "search",
    "search-uncached",
    "post",
    "put",
    "patch",
)
CONNECTIONS = {"post": 64, "put": 64, "patch": 64}
DRAIN_SECONDS = 3


def books_in(url: str) -> int:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            exists = connection.dialect.has_table(connection, "books")
            if not exists:
                return 0
            return int(connection.execute(text("SELECT count(*) FROM books")).scalar() or 0)
    finally:
        engine.dispose()


@dataclass
class Catalog:
    size: int
    url: str
    dropped: str | None  # a PostgreSQL database made for this run, dropped at the end


def prepare(size: int, url: str | None, backend: str, work: Path) -> Catalog:
    """A catalog of ``size`` books: the one at ``url`` (seeded first when it has none), or a
    fresh one."""
    dropped = None
    if url is None:
        (work / f"{size}").mkdir(exist_ok=True)
        url, dropped = fresh_database(backend, work / f"{size}")
    if books_in(url) == 0:
        print(f"seeding {size:,} books into {url}", file=sys.stderr)
        took = seed(url, size, report=lambda line: print(line, file=sys.stderr))
        print(f"  {took:.0f} s", file=sys.stderr)
    return Catalog(size, url, dropped)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--small", help="database of the small catalog (kept)")
    parser.add_argument("--large", help="database of the large catalog (kept)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--only", help="a comma-separated subset of " + ",".join(REQUESTS))
    parser.add_argument("--tree", type=Path, default=PROJECT_ROOT, help="the Estante to serve")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not ensure_wrk():
        raise SystemExit("bench.scale needs wrk (apt-get install wrk)")
    only = args.only.split(",") if args.only else list(REQUESTS)
    small_size, large_size = (int(s) for s in args.sizes.split(","))
    work = Path(tempfile.mkdtemp(prefix="estante-scale-"))
    catalogs = [
        prepare(small_size, args.small, args.backend, work),
        prepare(large_size, args.large, args.backend, work),
    ]
    servers: list[Running] = []
    python = str(args.tree / ".venv" / "bin" / "python")
    try:
        auth_port = free_port()
        env = {
            **os.environ,
            "ESTANTE_DATA_DIR": str(work / "data"),
            "ESTANTE_LOG_LEVEL": "WARNING",
            "RATE_LIMITS_ENABLED": "0",
            "LOGIN_THROTTLE_FREE_ATTEMPTS": "1000",
            "AUTH_PORT": str(auth_port),
            "AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        auth = start(
            [python, str(args.tree / "auth_service" / "auth_service.py")],
            {**env, "__PORT": str(auth_port)},
            work,
            work / "auth.log",
            "/healthz",
        )
        servers.append(auth)
        bases: dict[int, str] = {}
        for catalog in catalogs:
            port = free_port()
            books = start(
                [python, str(args.tree / "books_service" / "books_service.py")],
                {
                    **env,
                    "__PORT": str(port),
                    "BOOKS_PORT": str(port),
                    "BOOKS_DATABASE_URL": catalog.url,
                },
                work,
                work / f"books-{catalog.size}.log",
                "/healthz",
            )
            servers.append(books)
            bases[catalog.size] = books.url
        requests.post(
            f"{auth.url}/register",
            json={"username": USERNAME, "password": STRONG_PASSWORD},
            timeout=30,
        )

        def token() -> str:
            return librarian_token(auth.url)

        def script_file(body: str) -> Path:
            path = work / f"{uuid.uuid4().hex}.lua"
            path.write_text(body)
            return path

        word = quote(vocabulary()[COMMON_WORD_RANK - 1])
        uncached = uncached_search_script(work)

        def target(name: str, size: int, tag: str) -> tuple[str, Path | None]:
            base = bases[size]
            if name == "first-page":
                return f"{base}/books?limit=50", None
            if name == "get-one":
                return f"{base}/books/{size // 2}", None
            if name == "search":
                return f"{base}/books?q={word}&limit=50", None
            if name == "search-uncached":
                return f"{base}/books", uncached
            if name == "post":
                return f"{base}/books", script_file(post_script(tag, token()))
            method, kind = (
                ("PUT", "application/json")
                if name == "put"
                else ("PATCH", "application/merge-patch+json")
            )
            versions = versions_of(base, min(PUT_IDS, size))
            return f"{base}/", script_file(change_script(method, tag, token(), versions, kind))

        runs: dict[tuple[str, int], list[dict[str, float]]] = {}
        loads: list[float] = []
        for size in bases:  # warm both workers of each service
            for name in only:
                if name not in ("post", "put", "patch"):
                    url, script = target(name, size, "warm")
                    wrk(url, 2, 8, script, threads=1)
        run = uuid.uuid4().hex[:8]  # POSTed titles new to a kept catalog: no 409s
        for round_ in range(args.rounds):
            order = list(bases) if round_ % 2 == 0 else list(reversed(bases))
            for name in only:
                for size in order:
                    url, script = target(name, size, f"{run}r{round_}s{size}")
                    loads.append(os.getloadavg()[0])
                    result = wrk(url, args.seconds, CONNECTIONS.get(name, 16), script, threads=1)
                    runs.setdefault((name, size), []).append(result)
                    if name in CONNECTIONS:
                        # wrk stops with up to 64 writes still queued in the service: let them
                        # finish, or the next run's first requests wait behind them.
                        time.sleep(DRAIN_SECONDS)
                    print(f"  round {round_ + 1} {name} {size:,}: {result}", file=sys.stderr)
        final = {c.size: books_in(c.url) for c in catalogs}
        report = render(args, only, runs, small_size, large_size, loads, final)
        print(report)
        if args.out:
            args.out.write_text(report)
    finally:
        for server in reversed(servers):
            server.stop()
        for catalog in catalogs:
            drop_database(catalog.dropped)
        shutil.rmtree(work, ignore_errors=True)


def render(
    args: argparse.Namespace,
    only: list[str],
    runs: dict[tuple[str, int], list[dict[str, float]]],
    small: int,
    large: int,
    loads: list[float],
    final: dict[int, int],
) -> str:
    def median(name: str, size: int, measure: str) -> float:
        return statistics.median(r[measure] for r in runs[(name, size)])

    def errors(name: str, size: int) -> int:
        return int(sum(r["errors"] for r in runs[(name, size)]))

    lines = [
        f"{args.backend}, {time.strftime('%Y-%m-%d %H:%M')} UTC: {small:,} against {large:,} "
        f"books, wrk -t1, {args.seconds} s each, {args.rounds} rounds taking turns, medians; "
        f"load average {min(loads):.1f}-{max(loads):.1f} (1 min) during the runs; catalogs "
        f"after the run: {', '.join(f'{n:,}' for n in final.values())} books.",
        "",
        f"| request | c | req/s {small:,} | req/s {large:,} | p99 ms {small:,} "
        f"| p99 ms {large:,} | p99 ratio | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in only:
        ratio = median(name, large, "p99") / median(name, small, "p99")
        verdict = "" if ratio <= 2 else " **missed**"
        lines.append(
            f"| {name} | {CONNECTIONS.get(name, 16)} | {median(name, small, 'rps'):.0f} "
            f"| {median(name, large, 'rps'):.0f} | {median(name, small, 'p99'):.1f} "
            f"| {median(name, large, 'p99'):.1f} | {ratio:.2f}{verdict} "
            f"| {errors(name, small) + errors(name, large)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
