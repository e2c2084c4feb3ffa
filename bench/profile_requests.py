"""Where a request's time goes, in process: the real Books Service app (its WSGI test client, no
network, one thread) on a SQLite file or (``--backend postgres``) a new PostgreSQL database,
profiled with cProfile.

    .venv/bin/python -m bench.profile_requests [--requests 500] [--books 1000] [--top 25]
        [--only post,get-page,get-page-304,get-search,get-one,put] [--against-ceiling]
        [--backend sqlite|postgres] [--threads 4]

It signs a librarian's token with a key of its own (published to the service through its JWKS
cache file, as the Auth Service would), seeds ``--books`` books with ``POST /books``, then for
each request prints the time per request and the functions it spends it in (cumulative and own
time). One thread, so no lock waits appear here: compare with ``make bench-ceiling`` under load
to see what waiting adds.

With ``--against-ceiling`` nothing is profiled: the ceiling (``../shared/bench/ceiling.py``) is
seeded with the same books and loaded in the same process, and each read is made by both apps
in turn (``--rounds`` rounds of ``--requests`` requests each, the order swapped every round),
timing the process's CPU (``time.process_time``): CPU per request, Estante's, the ceiling's, and
the ratio ceiling / Estante (above 1: Estante costs less than the ceiling), medians of the
rounds. On a loaded machine this is steadier than requests a second over HTTP. A search page and
a 304 are measured against the ceiling's first page (it has neither).

With ``--threads N`` nothing is profiled either: each write (``post``, ``put``, ``patch``) is
made ``--requests`` times by each of N threads at once (a test client each, as a worker's
threads would), and the process's CPU per request is printed with how many transactions
committed them (on SQLite, writes that queue together share one: ``common/group_commit.py``).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import json
import os
import pstats
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt

from bench.ceiling_compare import DEFAULT_CEILING


def librarian_token(keys_dir: Path, jwks_file: Path) -> str:
    from auth_service.keys import KeyRing

    ring = KeyRing.ensure(keys_dir)
    jwks_file.write_text(json.dumps(ring.jwks()))
    now = int(time.time())
    claims = {
        "iss": "estante-auth",
        "aud": "estante",
        "sub": "1",
        "username": "bench",
        "roles": ["librarian"],
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
        "sid": uuid.uuid4().hex,
        "type": "access",
        "fresh": False,
    }
    key = ring.active
    return jwt.encode(
        claims, key.private_pem, algorithm="EdDSA", headers={"kid": key.kid, "typ": "at+jwt"}
    )


def cpu_per_request(call: Callable[[], Any], requests: int) -> float:
    """Milliseconds of this process's CPU per request."""
    started = time.process_time()
    for _ in range(requests):
        answer = call()
        assert answer.status_code in (200, 304), answer.status_code
    return (time.process_time() - started) / requests * 1000


def against_ceiling(
    args: argparse.Namespace, work: Path, cases: dict[str, Callable[[], Any]], one: int
) -> None:
    """Each read by Estante and by the ceiling in turn; CPU per request and the ratio."""
    ceiling_db = work / "ceiling.db"
    os.environ["CEILING_DB"] = str(ceiling_db)  # read by the ceiling's module when loaded
    spec = importlib.util.spec_from_file_location("ceiling", args.ceiling)
    assert spec is not None and spec.loader is not None
    ceiling = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ceiling)
    ceiling.seed(str(ceiling_db), args.books)
    theirs = ceiling.create_app().test_client()
    ceiling_cases = {
        "get-page": lambda: theirs.get("/books?limit=50"),
        "get-page-304": lambda: theirs.get("/books?limit=50"),
        "get-search": lambda: theirs.get("/books?limit=50"),
        "get-one": lambda: theirs.get(f"/books/{one}"),
    }
    print(f"CPU ms per request, {args.books:,} books, {args.rounds} rounds x {args.requests}")
    print("| request | Estante ms | ceiling ms | ratio (ceiling / Estante) |")
    print("| --- | ---: | ---: | ---: |")
    for name, call in cases.items():
        ours: list[float] = []
        ceilings: list[float] = []
        for side in (call, ceiling_cases[name]):
            cpu_per_request(side, 20)  # warm up
        for round_ in range(args.rounds):
            sides = [(ours, call), (ceilings, ceiling_cases[name])]
            for into, side in sides if round_ % 2 == 0 else reversed(sides):
                into.append(cpu_per_request(side, args.requests))
        mine, best = statistics.median(ours), statistics.median(ceilings)
        print(f"| {name} | {mine:.3f} | {best:.3f} | {best / mine:.2f} |")


def concurrent_writes(app: Any, name: str, auth: dict[str, str], args: argparse.Namespace) -> None:
    """``args.threads`` threads making ``name`` writes at once: CPU per request, transactions."""
    counter = iter(range(10**9))
    lock = threading.Lock()

    def one(client: Any) -> Any:
        with lock:
            n = next(counter)
        book_id = n % args.books + 1
        if name == "post":
            body = {"title": f"Threaded {n}", "author": f"Author {n % 37}"}
            return client.post("/books", json=body, headers=auth)
        if name == "put":
            body = {"title": f"Changed {n}", "author": f"Author {n % 37}"}
            return client.put(f"/books/{book_id}", json=body, headers=auth)
        return client.patch(f"/books/{book_id}", json={"copies": n % 50 + 1}, headers=auth)

    def worker() -> None:
        client = app.test_client()
        for _ in range(args.requests):
            answer = one(client)
            assert answer.status_code in (200, 201), (answer.status_code, answer.get_json())

    groups = getattr(app.extensions["estante.db"], "groups", None)
    commits, works = (groups.commits, groups.works) if groups else (0, 0)
    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    cpu, wall = time.process_time(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    total = args.threads * args.requests
    grouped = ""
    if groups:
        commits, works = groups.commits - commits, groups.works - works
        grouped = f", {works / max(commits, 1):.2f} writes per commit"
    print(
        f"{name}: {args.threads} threads, {total} requests: CPU {cpu / total * 1000:.3f} ms, "
        f"wall {wall / total * 1000:.3f} ms per request{grouped}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--books", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only")
    parser.add_argument("--against-ceiling", action="store_true")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ceiling", type=Path, default=DEFAULT_CEILING)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    from bench.catalog import drop_database, fresh_database

    with tempfile.TemporaryDirectory() as data_dir:
        database_url, database_name = fresh_database(args.backend, Path(data_dir))
        try:
            run(args, Path(data_dir), database_url)
        finally:
            drop_database(database_name)


def run(args: argparse.Namespace, data_dir: Path, database_url: str) -> None:
    from books_service.app import create_app, prepare
    from books_service.config import BooksSettings

    settings = BooksSettings(
        data_dir=data_dir,
        jwks_url="http://127.0.0.1:9/.well-known/jwks.json",
        database_url=database_url,
    )
    token = librarian_token(data_dir / "keys", settings.jwks_cache_path)
    prepare(settings)
    app = create_app(settings)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    for i in range(1, args.books + 1):
        answer = client.post(
            "/books?allow_duplicate=true",
            json={"title": f"Perf book {i:06d}", "author": f"Author {i % 37}"},
            headers=auth,
        )
        assert answer.status_code == 201, answer.get_json()
    counter = iter(range(10**9))

    def post() -> Any:
        n = next(counter)
        return client.post(
            "/books",
            json={"title": f"New book {n}", "author": f"Author {n % 37}"},
            headers=auth,
        )

    def put() -> Any:
        n = next(counter)
        book_id = n % args.books + 1
        return client.put(
            f"/books/{book_id}",
            json={"title": f"Changed {n}", "author": f"Author {n % 37}"},
            headers=auth,
        )

    def patch() -> Any:
        n = next(counter)
        return client.patch(
            f"/books/{n % args.books + 1}", json={"copies": n % 50 + 1}, headers=auth
        )

    if args.threads:
        writes = {"post": "/books", "put": "/books/{}", "patch": "/books/{}"}
        chosen = [n for n in writes if not args.only or n in args.only.split(",")]
        for name in chosen:
            concurrent_writes(app, name, auth, args)
        app.extensions["estante.db"].dispose()
        return
    page_etag = client.get("/books?limit=50").headers["ETag"]
    one = min(150, args.books)
    cases: dict[str, Callable[[], Any]] = {
        "post": post,
        "put": put,
        "patch": patch,
        "get-page": lambda: client.get("/books?limit=50"),
        "get-page-304": lambda: client.get("/books?limit=50", headers={"If-None-Match": page_etag}),
        "get-search": lambda: client.get("/books?q=author%2012&limit=50"),
        "get-one": lambda: client.get(f"/books/{one}"),
    }
    if args.against_ceiling:
        reads = ("get-page", "get-page-304", "get-search", "get-one")
        chosen = [n for n in reads if not args.only or n in args.only.split(",")]
        against_ceiling(args, data_dir, {n: cases[n] for n in chosen}, one)
        app.extensions["estante.db"].dispose()
        return
    for name, call in cases.items():
        if args.only and name not in args.only.split(","):
            continue
        for _ in range(20):
            call()  # warm up
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        for _ in range(args.requests):
            answer = call()
            assert answer.status_code < 400, (answer.status_code, answer.get_json())
        profile.disable()
        took = time.perf_counter() - started
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
        print(f"=== {name}: {took / args.requests * 1000:.2f} ms per request (profiled)")
        print(out.getvalue())
    app.extensions["estante.db"].dispose()


if __name__ == "__main__":
    main()
