"""How much memory a ``make run`` system takes: every process's RSS and PSS after a mixed load
(registrations, logins, refreshes, book writes, lists, single books, searches and the web
catalog page), as the launcher serves it, on databases migrated beforehand.

    .venv/bin/python -m bench.memory [--seconds 30] [--books 200] [--clients 4] [--tree DIR]
        [--data-dir DIR [--seed 1000000]] [--first-start]

The issue's conditions are 10 minutes of mixed load at 1M books: ``--seconds 600 --data-dir
DIR --seed 1000000`` seeds DIR's catalog with ``bench.seed`` the first time (a few minutes) and
reuses it afterwards (copy it per run to compare two trees: the load writes to it). The load's
clients read books and pages all over the catalog (random ids and offsets, several search
words), so the per-worker caches fill as far as their bounds let them. RSS and PSS are sampled
every ``--sample`` seconds during the load; the peaks are printed with the final figures.

RSS counts every page a process maps, shared ones (the code of Python and its libraries, pages a
forked worker still shares with its parent) in full in each process; PSS divides each shared
page among the processes sharing it, so the PSS of all processes adds up to what the system
really uses. The targets (issue 12) are per process RSS (a worker ≤ 60 MB, a supervising main
process ≤ 40 MB) and the whole system (≤ 400 MB, read here as the sum of PSS; the sum of RSS is
printed too). ``--tree`` measures another checkout (a ``git worktree`` of an earlier commit)
with this script, for a before and after.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.servers import spawn
from tests.support.harness import free_port

PASSWORD = "correct horse battery staple"  # noqa: S105 (throwaway accounts)


@dataclass(frozen=True)
class Process:
    pid: int
    role: str
    rss_kib: int
    pss_kib: int
    anon_kib: int
    cpu_seconds: float


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def _tree(pid: int) -> list[tuple[int, int]]:
    """(pid, depth) of the process and all its descendants."""
    out = [(pid, 0)]
    for child in _children(pid):
        out.extend((grandchild, depth + 1) for grandchild, depth in _tree(child))
    return out


def _memory(pid: int) -> tuple[int, int, int]:
    """RSS, PSS and the anonymous part of RSS (the heap, thread stacks: the rest is files
    mapped, mostly the code of Python and its libraries, shared by every process)."""
    found = {"Rss": 0, "Pss": 0, "Anonymous": 0}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in found:
            found[name] = int(value.split()[0])
    return found["Rss"], found["Pss"], found["Anonymous"]


def _cpu_seconds(pid: int) -> float:
    """User and system CPU the process has used since it started (from ``/proc/<pid>/stat``):
    what a change costs in CPU, next to what it saves in memory."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _role(pid: int, depth: int) -> str:
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    command = " ".join(part.decode() for part in argv if part)
    if depth == 0:
        return "launcher"
    service = next(
        (name for name in ("auth_service", "books_service", "web_service") if name in command),
        command[-40:],
    )
    return f"{service} main" if depth == 1 else f"{service} worker"


def measure(launcher: int) -> list[Process]:
    processes = []
    for pid, depth in _tree(launcher):
        role = _role(pid, depth)
        if depth == 1 and "main" not in role:
            continue
        processes.append(Process(pid, role, *_memory(pid), _cpu_seconds(pid)))
    return processes


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the system exited (code {process.returncode})")
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def _register(auth: str, http: requests.Session) -> dict[str, Any]:
    answer = http.post(
        f"{auth}/register",
        json={"username": f"bench_{uuid.uuid4().hex[:8]}", "password": PASSWORD},
        timeout=60,
    )
    answer.raise_for_status()
    return dict(answer.json())


WORDS = ("autor", "livro", "history", "the", "love", "war", "river", "night")
# Updates name a language, two- and three-letter codes: checking one is part of a write.
LANGUAGES = ("pt", "en", "por", "fre", "tpi", "de")


class Client:
    """One client of the mixed load, with an account and a session of its own."""

    def __init__(self, auth: str, books: str, web: str, book_count: int) -> None:
        self.auth, self.books, self.web, self.book_count = auth, books, web, book_count
        self.http = requests.Session()
        account = _register(auth, self.http)
        self.username, self.refresh = account["user"]["username"], account["refresh_token"]

    def run(self, deadline: float) -> int:
        """Rounds until ``deadline``; returns how many requests were made."""
        made = round_number = 0
        while time.monotonic() < deadline:
            round_number += 1
            try:
                made += self.round(round_number)
            except requests.RequestException as error:  # too slow an answer: on with a new session
                print(f"client error: {error}", file=sys.stderr)
                made += 1
                self.refresh = self.http.post(
                    f"{self.auth}/login",
                    json={"username": self.username, "password": PASSWORD},
                    timeout=60,
                ).json()["refresh_token"]
        return made

    def round(self, number: int) -> int:
        http, books = self.http, self.books
        answer = http.post(
            f"{self.auth}/token/refresh", json={"refresh_token": self.refresh}, timeout=30
        )
        self.refresh = answer.json()["refresh_token"]
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        made = 5
        if number % 10 == 0:
            http.post(
                f"{self.auth}/login",
                json={"username": self.username, "password": PASSWORD},
                timeout=60,
            )
            made += 1
        some_book = random.randint(1, self.book_count)
        http.get(f"{books}/books?limit=50", timeout=30)
        year = random.randint(1950, 2025)  # a different page each time: the caches fill up
        http.get(f"{books}/books?limit=50&year_from={year}&year_to={year}", timeout=30)
        http.get(f"{books}/books/{some_book}", timeout=30)
        http.get(f"{books}/books?q={random.choice(WORDS)}&limit=20", timeout=30)
        if number % 4 == 0:
            http.put(
                f"{books}/books/{some_book}",
                json={
                    "title": f"Livro {number}",
                    "author": "Autor",
                    "language": random.choice(LANGUAGES),
                },
                headers=headers,
                timeout=30,
            )
            made += 1
        if number % 2 == 0:
            http.get(f"{self.web}/", timeout=30)
            made += 1
        return made


def load(
    auth: str, books: str, web: str, seconds: float, book_count: int, clients: int, seeded: int
) -> int:
    """The mixed load, on a catalog of ``seeded`` books to which it adds ``book_count``;
    returns how many requests it made."""
    requests_made = 0
    http = requests.Session()
    registered = _register(auth, http)
    headers = {"Authorization": f"Bearer {registered['access_token']}"}
    for number in range(book_count):
        http.post(
            f"{books}/books?allow_duplicate=true",
            json={"title": f"Livro {number}", "author": f"Autor {number % 17}"},
            headers=headers,
            timeout=30,
        ).raise_for_status()
        requests_made += 1
    # Logins in parallel (one per account at a time: the throttle counts a login in flight as
    # failing until its password is checked), so every thread of the Auth workers hashes.
    accounts = [f"bench_{uuid.uuid4().hex[:8]}" for _ in range(16)]
    for account in accounts:
        http.post(
            f"{auth}/register", json={"username": account, "password": PASSWORD}, timeout=60
        ).raise_for_status()
        requests_made += 1
    with ThreadPoolExecutor(len(accounts)) as pool:
        for answer in pool.map(
            lambda account: requests.post(
                f"{auth}/login", json={"username": account, "password": PASSWORD}, timeout=60
            ),
            accounts * 2,
        ):
            answer.raise_for_status()
            requests_made += 1
    deadline = time.monotonic() + seconds
    with ThreadPoolExecutor(clients) as pool:
        for made in pool.map(
            lambda _: Client(auth, books, web, seeded + book_count).run(deadline), range(clients)
        ):
            requests_made += made
    return requests_made


def _seeded_books(data_dir: Path, tree: Path, env: dict[str, str], seed: int) -> int:
    """The books already in the data directory's SQLite catalog, seeding ``seed`` of them first
    if it has none (``bench.seed``: a few minutes for a million)."""
    database = data_dir / "books.db"

    def count() -> int:
        if not database.exists():
            return 0
        with sqlite3.connect(database) as connection:
            return int(connection.execute("SELECT coalesce(max(id), 0) FROM books").fetchone()[0])

    if count() == 0 and seed:
        print(f"seeding {seed:,} books in {data_dir}", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from bench.seed import seed; from books_service.config import "
                "BooksSettings; seed(BooksSettings().database_url, int(sys.argv[1]))",
                str(seed),
            ],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            check=True,
        )
    return count()


def _sampled(launcher: int, every: float, stop: threading.Event) -> dict[str, int]:
    """The highest RSS each role reached, sampled every ``every`` seconds until ``stop``."""
    peaks: dict[str, int] = {}
    while not stop.wait(every):
        try:
            for process in measure(launcher):
                peaks[process.role] = max(peaks.get(process.role, 0), process.rss_kib)
        except (FileNotFoundError, ProcessLookupError):  # a worker respawned meanwhile
            continue
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--books", type=int, default=200, help="books added over HTTP")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--sample", type=float, default=15, help="seconds between samples")
    parser.add_argument("--tree", type=Path, help="another checkout to measure")
    parser.add_argument("--data-dir", type=Path, help="reuse this data directory")
    parser.add_argument("--seed", type=int, default=0, help="books to seed an empty --data-dir")
    parser.add_argument(
        "--settle",
        type=float,
        default=0,
        help="seconds without load before the final reading (workers give memory back when idle)",
    )
    parser.add_argument(
        "--first-start",
        action="store_true",
        help="new databases, migrated by the system itself as it starts (without --seed)",
    )
    args = parser.parse_args()
    if args.first_start and args.seed:
        parser.error("--first-start measures new databases: it does not go with --seed")
    tree = (args.tree or Path(__file__).resolve().parent.parent).resolve()
    ports = {name: free_port() for name in ("AUTH_PORT", "BOOKS_PORT", "WEB_PORT")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.data_dir.resolve() if args.data_dir else Path(scratch)
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **{name: str(port) for name, port in ports.items()},
            "ESTANTE_DATA_DIR": str(data_dir),
            "ESTANTE_LOG_LEVEL": "WARNING",
            "AUTH_JWKS_URL": f"{urls['AUTH_PORT']}/.well-known/jwks.json",
            "RATE_LIMITS_ENABLED": "false",
        }
        log = Path(scratch) / "system.log"
        # Migrated beforehand, as a deployment does (``<service>.py migrate``): the system is
        # measured as it starts every time but the first (``--first-start``: as it starts on
        # new databases, which each main process migrates before its workers start).
        for service in () if args.first_start else ("auth_service", "books_service", "web_service"):
            subprocess.run(
                [sys.executable, f"{service}/{service}.py", "migrate"],
                cwd=tree,
                env=env,
                check=True,
                capture_output=True,
            )
        seeded = _seeded_books(data_dir, tree, env, args.seed)
        with log.open("w") as output:
            system = spawn([sys.executable, "-m", "ops.launcher"], env=env, cwd=tree, output=output)
        try:
            for url in urls.values():
                _wait_ready(url, system)
            started = time.monotonic()
            stop = threading.Event()
            with ThreadPoolExecutor(1) as sampler:
                sampling = sampler.submit(_sampled, system.pid, args.sample, stop)
                try:
                    made = load(
                        urls["AUTH_PORT"],
                        urls["BOOKS_PORT"],
                        urls["WEB_PORT"],
                        args.seconds,
                        args.books,
                        args.clients,
                        seeded,
                    )
                    took = time.monotonic() - started
                    loaded = measure(system.pid)
                    time.sleep(args.settle)
                    processes = measure(system.pid) if args.settle else loaded
                finally:
                    stop.set()  # or the sampler would keep the pool open for ever
                peaks = sampling.result()
        finally:
            system.send_signal(signal.SIGTERM)
            system.wait(60)
    print(
        f"{tree}: {seeded + args.books:,} books, {made:,} requests in {took:.0f} s "
        f"({args.clients} clients)"
    )
    print("| process | pid | RSS MB | anonymous MB | PSS MB | peak RSS of its kind MB | CPU s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for process in processes:
        peak = max(peaks.get(process.role, 0), process.rss_kib)
        print(
            f"| {process.role} | {process.pid} | {process.rss_kib / 1024:.1f} "
            f"| {process.anon_kib / 1024:.1f} | {process.pss_kib / 1024:.1f} | {peak / 1024:.1f} "
            f"| {process.cpu_seconds:.1f} |"
        )
    if args.settle:
        rss, pss = (sum(p.rss_kib for p in loaded) / 1024, sum(p.pss_kib for p in loaded) / 1024)
        print(f"(right after the load: whole system {rss:.1f} RSS, {pss:.1f} PSS; ", end="")
        print(f"the table: {args.settle:.0f} s later)")
    total_rss = sum(p.rss_kib for p in processes) / 1024
    total_pss = sum(p.pss_kib for p in processes) / 1024
    cpu = sum(p.cpu_seconds for p in processes)
    print(f"| **whole system** | | {total_rss:.1f} | | {total_pss:.1f} | | {cpu:.1f} |")
    print(f"CPU per request: {cpu / max(made, 1) * 1000:.2f} ms (all processes, start included)")


if __name__ == "__main__":
    main()
