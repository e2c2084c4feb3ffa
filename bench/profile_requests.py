"""Where a request's time goes, in process: the real Books Service app (its WSGI test client, no
network, one thread) on a SQLite file, profiled with cProfile.

    .venv/bin/python -m bench.profile_requests [--requests 500] [--books 1000] [--top 25]
        [--only post,get-page,get-one,put]

It signs a librarian's token with a key of its own (published to the service through its JWKS
cache file, as the Auth Service would), seeds ``--books`` books with ``POST /books``, then for
each request prints the time per request and the functions it spends it in (cumulative and own
time). One thread, so no lock waits appear here: compare with ``make bench-ceiling`` under load
to see what waiting adds.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--books", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only")
    args = parser.parse_args()

    from books_service.app import create_app, prepare
    from books_service.config import BooksSettings

    with tempfile.TemporaryDirectory() as data_dir:
        settings = BooksSettings(
            data_dir=Path(data_dir), jwks_url="http://127.0.0.1:9/.well-known/jwks.json"
        )
        token = librarian_token(Path(data_dir) / "keys", settings.jwks_cache_path)
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

        cases: dict[str, Callable[[], Any]] = {
            "post": post,
            "put": put,
            "get-page": lambda: client.get("/books?limit=50"),
            "get-one": lambda: client.get("/books/150"),
        }
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
                assert answer.status_code < 300, (answer.status_code, answer.get_json())
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
