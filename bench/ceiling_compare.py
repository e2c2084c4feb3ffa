"""Estante against the ceiling, side by side: ``make bench-ceiling``.

The ceiling (``../shared/bench/ceiling.py``, or ``--ceiling``) is the plainest Flask + SQLAlchemy
Core app that serves the same JSON as Estante from a table of the same shape, under Granian with
``make run``'s worker settings and nothing else. This script seeds both with the same books (only a
title and an author each: "Perf book 000123" by "Author 12"), serves both, and loads each request
of issue 12 with wrk (one thread, the same connections, ``--seconds`` each), Estante and the
ceiling taking turns, the order swapped every round, ``--rounds`` rounds:

* ``GET /books?limit=50`` (c=16), ``GET /books/<id>`` (c=16);
* ``get-search``: a search page, ``GET /books?q=author%2012&limit=50`` (c=16), and
  ``get-page-304``: the first page revalidated with the ``If-None-Match`` of its ETag (c=16),
  both against the ceiling's first page (it has neither search nor ETags);
* ``POST /books`` (c=64): a new title each request, as a librarian;
* ``PUT /books/<id>`` and ``PATCH /books/<id>`` (c=64): the first 2,000 books in turn, each with
  the If-Match of its current version (read before the run, then taken from each answer's ETag),
  against the ceiling's UPDATE (it has no PATCH).

Then logins (``POST /login``, c=16) against bare argon2id verification at the Auth Service's
configured parameters in as many processes as it checks passwords at once (its workers times
the hashes each runs at once: the cores), taking turns too; and the worker and main-process
memory (RSS) of both services after the load. Medians of the rounds; the ratio is Estante /
ceiling. wrk and every server share the machine's cores: compare ratios, not absolute numbers,
and only within one run.

    .venv/bin/python -m bench.ceiling_compare [--books 1000] [--backend sqlite|postgres]
        [--rounds 3] [--seconds 10] [--only get-page,post] [--tree DIR] [--out FILE]

``--tree`` serves another checkout of Estante (say, a ``git worktree`` of main) instead of this
one, for a before/after comparison against the same ceiling. Above 20,000 books Estante is seeded
by that tree's ``bench/seed.py`` (realistic books, a bigger row than the ceiling's), below by
``POST /books`` itself. Rate limits are off (one client address makes every request).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from bench.catalog import analyze_database, drop_database, ensure_wrk, fresh_database
from bench.servers import spawn, wrk
from books_service.config import BooksSettings
from common.config import PROJECT_ROOT
from tests.support.harness import STRONG_PASSWORD, free_port

# ``../shared`` beside the checkout, or beside the folder of worktrees the checkout sits in.
DEFAULT_CEILING = next(
    (
        path
        for path in (
            PROJECT_ROOT.parent / "shared" / "bench" / "ceiling.py",
            PROJECT_ROOT.parent.parent / "shared" / "bench" / "ceiling.py",
        )
        if path.exists()
    ),
    PROJECT_ROOT.parent / "shared" / "bench" / "ceiling.py",
)
SEARCH = "/books?q=author%2012&limit=50"  # one book in 37 of the bench's own
PUT_IDS = 2000  # PUT and PATCH cycle through the first books
USERNAME = "bench_librarian"


# --- wrk scripts -------------------------------------------------------------------------------


def librarian_token(auth_url: str) -> str:
    """A fresh access token of the bench's librarian (registered once per run)."""
    answer = requests.post(
        f"{auth_url}/login",
        json={"username": USERNAME, "password": STRONG_PASSWORD},
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def post_script(tag: str, token: str | None) -> str:
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"\n' if token else ""
    return (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"{auth}"
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        f'  local body = string.format(\'{{"title": "New book {tag} %d", "author": "Author %d"}}\','
        " n, n % 37)\n"
        "  return wrk.format(nil, '/books', nil, body)\n"
        "end\n"
    )


def change_script(
    method: str, tag: str, token: str | None, versions: dict[int, int], content_type: str
) -> str:
    """PUT or PATCH the first books in turn, each with If-Match of the version last seen (its
    answer's ETag, ``"<id>-<version>"``, moves it on)."""
    ids = sorted(versions)
    table = ", ".join(f"[{i}] = {v}" for i, v in versions.items())
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"\n' if token else ""
    fields = (
        '"title": "Changed %d %s %d", "author": "Author %d"'
        if method == "PUT"
        else ('"title": "Changed %d %s %d"')
    )
    values = "id, tag, n, id % 37" if method == "PUT" else "id, tag, n"
    return (
        f'wrk.method = "{method}"\n'
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
        f"{auth}"
        f"local versions = {{{table}}}\n"
        f"local count = {len(ids)}\n"
        f'local tag = "{tag}"\n'
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        "  local id = (n - 1) % count + 1\n"
        f"  local body = string.format('{{{fields}}}', {values})\n"
        "  local headers = {}\n"
        "  for k, v in pairs(wrk.headers) do headers[k] = v end\n"
        '  headers["If-Match"] = string.format(\'"%d-%d"\', id, versions[id])\n'
        "  return wrk.format(nil, '/books/' .. id, headers, body)\n"
        "end\n"
        "response = function(status, headers, body)\n"
        '  local etag = headers["ETag"] or headers["etag"]\n'
        "  if etag then\n"
        '    local id, version = string.match(etag, "(%d+)-(%d+)")\n'
        "    if id then versions[tonumber(id)] = tonumber(version) end\n"
        "  end\n"
        "end\n"
    )


def revalidate_script(etag: str) -> str:
    return f'wrk.headers["If-None-Match"] = {json.dumps(etag)}\n'


def login_script() -> str:
    return (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.body = \'{{"username": "{USERNAME}", "password": "{STRONG_PASSWORD}"}}\'\n'
    )


# --- the servers ---------------------------------------------------------------------------------


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start(argv: list[str], env: dict[str, str], cwd: Path, log: Path, health: str) -> Running:
    port = int(env["__PORT"])
    process = spawn(
        argv, env={k: v for k, v in env.items() if k != "__PORT"}, cwd=cwd, output=log.open("ab")
    )
    running = Running(process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"{argv[1]} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            if requests.get(running.url + health, timeout=2).status_code == 200:
                return running
        except requests.RequestException:
            pass
        time.sleep(0.2)
    running.stop()
    raise SystemExit(f"{argv[1]} did not answer within 120 s: see {log}")


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def memory(running: Running) -> tuple[float, list[float]]:
    """The main process's RSS and each worker's, in MB."""
    pid = running.process.pid
    return rss_mb(pid), [rss_mb(child) for child in children(pid)]


# --- argon2 alone ---------------------------------------------------------------------------------


def _verify_for(seconds: float, params: tuple[int, int, int], counter: Any) -> None:
    from argon2 import PasswordHasher, Type

    time_cost, memory_kib, parallelism = params
    hasher = PasswordHasher(time_cost, memory_kib, parallelism, type=Type.ID)
    hashed = hasher.hash(STRONG_PASSWORD)
    deadline = time.monotonic() + seconds
    done = 0
    while time.monotonic() < deadline:
        hasher.verify(hashed, STRONG_PASSWORD)
        done += 1
    with counter.get_lock():
        counter.value += done


def bare_argon2(seconds: float, processes: int, params: tuple[int, int, int]) -> float:
    """Verifications per second in ``processes`` processes at once: what the Auth Service
    could do if a login were nothing but its password check (its one worker hashes in as many
    threads at once as there are cores, argon2 running outside the GIL)."""
    context = multiprocessing.get_context("spawn")
    counter = context.Value("q", 0)
    workers = [
        context.Process(target=_verify_for, args=(seconds, params, counter))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    started = time.monotonic()
    for worker in workers:
        worker.join()
    return counter.value / (time.monotonic() - started)


# --- the run ---------------------------------------------------------------------------


@dataclass
class Request:
    name: str
    connections: int
    # (base URL, round tag) -> (path, wrk script or None)
    estante: Callable[[str, str], tuple[str, str | None]]
    ceiling: Callable[[str, str], tuple[str, str | None]]


@dataclass
class Results:
    runs: dict[tuple[str, str], list[dict[str, float]]] = field(default_factory=dict)

    def add(self, request: str, side: str, result: dict[str, float]) -> None:
        self.runs.setdefault((request, side), []).append(result)

    def median(self, request: str, side: str, measure: str) -> float:
        return statistics.median(r[measure] for r in self.runs[(request, side)])

    def errors(self, request: str, side: str) -> int:
        return int(sum(r["errors"] for r in self.runs[(request, side)]))


def versions_of(base: str, count: int) -> dict[int, int]:
    """The current version of books 1..count, read a page at a time."""
    found: dict[int, int] = {}
    url: str | None = f"{base}/books?limit=500"
    while url and len(found) < count:
        answer = requests.get(url, timeout=60)
        if answer.status_code != 200:
            raise SystemExit(f"GET {url}: {answer.status_code} {answer.text[:500]}")
        for book in answer.json():
            if book["id"] <= count:
                found[book["id"]] = book["version"]
        following = answer.links.get("next", {}).get("url")
        url = urljoin(base + "/", following) if following else None
    return found


def settled_versions(base: str, count: int) -> dict[int, int]:
    """:func:`versions_of` once two reads a moment apart agree: the writes a previous round's
    wrk left in flight when it stopped may still be committing, and a version read before
    they commit would send a stale If-Match (a 412)."""
    versions = versions_of(base, count)
    while True:
        time.sleep(0.5)
        again = versions_of(base, count)
        if again == versions:
            return versions
        versions = again


def seed_over_http(base: str, token: str, books: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}

    def add(chunk: range) -> None:
        with requests.Session() as session:
            for i in chunk:
                answer = session.post(
                    f"{base}/books?allow_duplicate=true",
                    json={"title": f"Perf book {i:06d}", "author": f"Author {i % 37}"},
                    headers=headers,
                    timeout=60,
                )
                answer.raise_for_status()

    # In order, so that book i is "Perf book i" as in the ceiling.
    add(range(1, books + 1))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling_compare", description=__doc__)
    parser.add_argument("--books", type=int, default=1000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--only",
        help="comma-separated: get-page,get-page-304,get-search,get-one,post,put,patch,login",
    )
    parser.add_argument("--tree", type=Path, default=PROJECT_ROOT, help="the Estante to serve")
    parser.add_argument("--ceiling", type=Path, default=DEFAULT_CEILING)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not ensure_wrk():
        raise SystemExit("bench-ceiling needs wrk (apt-get install wrk)")
    only = set(args.only.split(",")) if args.only else None
    tree = args.tree.resolve()
    python = sys.executable
    work = Path(tempfile.mkdtemp(prefix="estante-bench-ceiling-"))
    books_url, pg_name = fresh_database(args.backend, work)
    servers: list[Running] = []
    try:
        print(f"seeding the ceiling with {args.books:,} books", file=sys.stderr)
        ceiling_db = work / "ceiling.db"
        subprocess.run(
            [python, str(args.ceiling), "seed", "--db", str(ceiling_db), "--rows", str(args.books)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        ceiling_port = free_port()
        served = BooksSettings()  # the Books Service's workers and threads, as make run serves it
        ceiling = start(
            [
                python,
                str(args.ceiling),
                "serve",
                "--db",
                str(ceiling_db),
                "--port",
                str(ceiling_port),
                # make run's worker set-up, as the services below read it from the environment
                "--workers",
                str(served.workers),
                "--threads",
                str(served.threads),
            ],
            {**os.environ, "__PORT": str(ceiling_port)},
            work,
            work / "ceiling.log",
            "/books/1",
        )
        servers.append(ceiling)
        auth_port = books_port = ceiling_port
        while len({auth_port, books_port, ceiling_port}) < 3:  # two closed sockets may share one
            auth_port, books_port = free_port(), free_port()
        env = {
            **os.environ,
            "ESTANTE_DATA_DIR": str(work / "data"),
            "RATE_LIMITS_ENABLED": "0",
            "LOGIN_THROTTLE_FREE_ATTEMPTS": "1000",
            "AUTH_PORT": str(auth_port),
            "BOOKS_PORT": str(books_port),
            "BOOKS_DATABASE_URL": books_url,
            "AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if args.books > 20_000:
            print(f"seeding Estante with {args.books:,} books (bench/seed.py)", file=sys.stderr)
            subprocess.run(
                [python, "-m", "bench.seed", "--books", str(args.books), "--database", books_url],
                cwd=tree,
                env=env,
                check=True,
            )
        auth = start(
            [python, str(tree / "auth_service" / "auth_service.py")],
            {**env, "__PORT": str(auth_port)},
            work,
            work / "auth.log",
            "/healthz",
        )
        servers.append(auth)
        books = start(
            [python, str(tree / "books_service" / "books_service.py")],
            {**env, "__PORT": str(books_port)},
            work,
            work / "books.log",
            "/healthz",
        )
        servers.append(books)
        registered = requests.post(
            f"{auth.url}/register",
            json={"username": USERNAME, "password": STRONG_PASSWORD},
            timeout=30,
        )
        registered.raise_for_status()

        def token() -> str:
            return librarian_token(auth.url)

        if args.books <= 20_000:
            print(f"seeding Estante with {args.books:,} books (POST /books)", file=sys.stderr)
            seed_over_http(books.url, token(), args.books)
            analyze_database(pg_name)
        one = min(150, args.books)
        put_ids = min(PUT_IDS, args.books)

        def script_file(text: str) -> str:
            path = work / f"{uuid.uuid4().hex}.lua"
            path.write_text(text)
            return str(path)

        def estante_change(method: str, content_type: str) -> Callable[[str, str], tuple[str, str]]:
            def make(base: str, tag: str) -> tuple[str, str]:
                versions = settled_versions(base, put_ids)
                return "/", script_file(change_script(method, tag, token(), versions, content_type))

            return make

        def revalidate(base: str, tag: str) -> tuple[str, str]:
            etag = requests.get(f"{base}/books?limit=50", timeout=60).headers["ETag"]
            return "/books?limit=50", script_file(revalidate_script(etag))

        def ceiling_change(base: str, tag: str) -> tuple[str, str]:
            versions = dict.fromkeys(range(1, put_ids + 1), 1)
            return "/", script_file(change_script("PUT", tag, None, versions, "application/json"))

        plan = [
            Request(
                "get-page",
                16,
                lambda b, t: ("/books?limit=50", None),
                lambda b, t: ("/books?limit=50", None),
            ),
            Request(
                "get-page-304",
                16,
                revalidate,
                lambda b, t: ("/books?limit=50", None),
            ),
            Request(
                "get-search",
                16,
                lambda b, t: (SEARCH, None),
                lambda b, t: ("/books?limit=50", None),
            ),
            Request(
                "get-one",
                16,
                lambda b, t: (f"/books/{one}", None),
                lambda b, t: (f"/books/{one}", None),
            ),
            Request(
                "post",
                64,
                lambda b, t: ("/books", script_file(post_script(t, token()))),
                lambda b, t: ("/books", script_file(post_script(t, None))),
            ),
            Request("put", 64, estante_change("PUT", "application/json"), ceiling_change),
            Request(
                "patch", 64, estante_change("PATCH", "application/merge-patch+json"), ceiling_change
            ),
        ]
        plan = [r for r in plan if only is None or r.name in only]
        results = Results()
        for base in (books.url, ceiling.url):  # warm up: every worker, every route
            for request in plan:
                path, script = (request.estante if base == books.url else request.ceiling)(
                    base, f"w{uuid.uuid4().hex[:6]}"
                )
                wrk(
                    base + path, 2, request.connections, Path(script) if script else None, threads=1
                )
        for round_ in range(args.rounds):
            for request in plan:
                sides = [("estante", books.url), ("ceiling", ceiling.url)]
                if round_ % 2:
                    sides.reverse()
                for side, base in sides:
                    tag = f"r{round_}{uuid.uuid4().hex[:6]}"
                    make = request.estante if side == "estante" else request.ceiling
                    path, script = make(base, tag)
                    result = wrk(
                        base + path,
                        args.seconds,
                        request.connections,
                        Path(script) if script else None,
                        threads=1,
                    )
                    results.add(request.name, side, result)
                    print(f"round {round_ + 1} {request.name} {side}: {result}", file=sys.stderr)

        login: dict[str, list[float]] = {"login": [], "login p99": [], "argon2": [], "errors": []}
        if only is None or "login" in only:
            from auth_service.config import AuthSettings  # this tree's defaults: the same knobs

            settings = AuthSettings()
            params = (
                settings.argon2_time_cost,
                settings.argon2_memory_kib,
                settings.argon2_parallelism,
            )
            lua = Path(script_file(login_script()))
            wrk(f"{auth.url}/login", 2, 16, lua, threads=1)
            for round_ in range(args.rounds):
                order = ["login", "argon2"] if round_ % 2 == 0 else ["argon2", "login"]
                for what in order:
                    if what == "login":
                        result = wrk(f"{auth.url}/login", args.seconds, 16, lua, threads=1)
                        login["login"].append(result["rps"])
                        login["login p99"].append(result["p99"])
                        login["errors"].append(result["errors"])
                    else:
                        at_once = settings.workers * settings.argon2_hashes_at_once
                        login["argon2"].append(bare_argon2(args.seconds, at_once, params))
                    print(f"round {round_ + 1} {what}: {login}", file=sys.stderr)

        books_memory, auth_memory = memory(books), memory(auth)
        ceiling_memory = memory(ceiling)
        text = report(args, tree, results, plan, login, books_memory, auth_memory, ceiling_memory)
        print(text)
        if args.out:
            args.out.write_text(text)
    finally:
        for server in reversed(servers):
            server.stop()
        drop_database(pg_name)
        shutil.rmtree(work, ignore_errors=True)


LABELS = {
    "get-page": "`GET /books?limit=50` (c=16)",
    "get-page-304": "`GET /books?limit=50` revalidated, 304 (c=16; ceiling: its page)",
    "get-search": "`GET /books?q=author 12&limit=50` (c=16; ceiling: its page)",
    "get-one": "`GET /books/<id>` (c=16)",
    "post": "`POST /books` (c=64)",
    "put": "`PUT /books/<id>` (c=64)",
    "patch": "`PATCH /books/<id>` (c=64; ceiling: its PUT)",
}


def report(
    args: argparse.Namespace,
    tree: Path,
    results: Results,
    plan: list[Request],
    login: dict[str, list[float]],
    books_memory: tuple[float, list[float]],
    auth_memory: tuple[float, list[float]],
    ceiling_memory: tuple[float, list[float]],
) -> str:
    served = BooksSettings()  # the Books Service's workers and threads, as make run serves it
    commit = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        f"{time.strftime('%Y-%m-%d %H:%M')} UTC; Estante at {commit or tree} on {args.backend}, "
        f"{args.books:,} books; each served by {served.workers} workers x {served.threads} "
        f"threads; wrk -t1, {args.seconds} s, {args.rounds} interleaved rounds, "
        f"medians; {os.cpu_count()} cores shared with wrk (and, today, other work).",
        "",
        "| request | Estante req/s | p99 ms | non-2xx | ceiling req/s | p99 ms | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for request in plan:
        name = request.name
        ours, theirs = (
            results.median(name, "estante", "rps"),
            results.median(name, "ceiling", "rps"),
        )
        lines.append(
            f"| {LABELS[name]} | {ours:,.0f} | {results.median(name, 'estante', 'p99'):,.1f} "
            f"| {results.errors(name, 'estante')} | {theirs:,.0f} "
            f"| {results.median(name, 'ceiling', 'p99'):,.1f} | {ours / theirs:.2f} |"
        )
    if login["login"]:
        logins, argon2 = statistics.median(login["login"]), statistics.median(login["argon2"])
        lines += [
            "",
            "| logins/s (c=16) | p99 ms | non-2xx | bare argon2id verifications/s | ratio |",
            "| ---: | ---: | ---: | ---: | ---: |",
            f"| {logins:,.1f} | {statistics.median(login['login p99']):,.0f} "
            f"| {sum(login['errors']):.0f} | {argon2:,.1f} | {logins / argon2:.2f} |",
        ]
    lines += [
        "",
        "| process | main RSS MB | workers' RSS MB |",
        "| --- | ---: | --- |",
    ]
    for label, (main_rss, workers) in (
        ("Books Service", books_memory),
        ("Auth Service", auth_memory),
        ("ceiling", ceiling_memory),
    ):
        lines.append(f"| {label} | {main_rss:.0f} | {', '.join(f'{w:.0f}' for w in workers)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
