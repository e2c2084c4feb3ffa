"""Which WSGI server, measured on this machine: Granian against gunicorn (sync and gthread
workers), for read-heavy traffic (GET one book) and login-heavy traffic (argon2 is CPU-bound).

    .venv/bin/python -m bench.servers [--seconds 10] [--rounds 3]

Each configuration serves the real app (SQLite in a temporary directory) and is loaded with wrk
from the same machine; the rounds are interleaved so the machine's noise falls on all alike.
Prints a Markdown table of medians (req/s, p50, p99) for docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL
from typing import IO

import requests

from common.config import PROJECT_ROOT
from tests.support.harness import STRONG_PASSWORD, free_port, wait_until_healthy

VENV_BIN = Path(sys.executable).parent
LOGIN_LUA = "\n".join(
    [
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
        f'wrk.body = \'{{"username": "bench_user", "password": "{STRONG_PASSWORD}"}}\'',
    ]
)


@dataclass(frozen=True)
class Server:
    name: str
    argv: tuple[str, ...]  # {port} and {app} are filled in


SERVERS = (
    Server(
        "granian, 2 workers x 4 threads (ours)",
        (
            "granian",
            "--interface",
            "wsgi",
            "--workers",
            "2",
            "--blocking-threads",
            "4",
            "--port",
            "{port}",
            "--factory",
            "{app}",
        ),
    ),
    Server(
        "gunicorn sync, 5 workers",
        ("gunicorn", "-w", "5", "-b", "127.0.0.1:{port}", "--no-control-socket", "{app}()"),
    ),
    Server(
        "gunicorn gthread, 2 workers x 4 threads",
        (
            "gunicorn",
            "-w",
            "2",
            "-k",
            "gthread",
            "--threads",
            "4",
            "-b",
            "127.0.0.1:{port}",
            "--no-control-socket",
            "{app}()",
        ),
    ),
)
APPS = {"books": "books_service.app:create_app", "auth": "auth_service.app:create_app"}


def spawn(
    argv: list[str], *, env: dict[str, str], cwd: Path | str, output: IO[bytes] | int = DEVNULL
) -> subprocess.Popen[bytes]:
    """A server process in a session of its own (so that ``os.killpg`` stops it with its
    workers), its output and errors to ``output`` (nowhere by default)."""
    return subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
    )


def start(server: Server, app: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    argv = [str(VENV_BIN / server.argv[0])] + [
        a.format(port=port, app=APPS[app]) for a in server.argv[1:]
    ]
    process = spawn(argv, env=env, cwd=PROJECT_ROOT)
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, process)
    return process, url


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wrk(
    url: str, seconds: int, connections: int, script: Path | None = None, threads: int = 2
) -> dict[str, float]:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        argv[1:1] = ["-s", str(script)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    def latency_ms(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        assert match, out
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    done = re.search(r"(\d+) requests in", out)
    assert rps and done, out
    return {
        "rps": float(rps[1]),
        "requests": float(done[1]),
        "p50": latency_ms("50"),
        "p99": latency_ms("99"),
        "errors": float(errors[1]) if errors else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    data = Path(tempfile.mkdtemp(prefix="estante-bench-"))
    env = {
        **os.environ,
        "ESTANTE_DATA_DIR": str(data),
        "ESTANTE_LOG_LEVEL": "WARNING",
        "RATE_LIMITS_ENABLED": "0",
        "LOGIN_THROTTLE_FREE_ATTEMPTS": "1000",
        "AUTH_JWKS_URL": "http://127.0.0.1:9/unused",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # one registry per worker is enough here
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from auth_service.app import prepare; "
            "from auth_service.config import AuthSettings; prepare(AuthSettings()); "
            "from books_service.app import prepare as p; "
            "from books_service.config import BooksSettings; p(BooksSettings())",
        ],
        env=env,
        cwd=PROJECT_ROOT,
        check=True,
    )
    lua = data / "login.lua"
    lua.write_text(LOGIN_LUA)
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    book_id = None
    for round_ in range(args.rounds):
        for server in SERVERS:
            for workload in ("read", "login"):
                app = "books" if workload == "read" else "auth"
                process, url = start(server, app, env)
                try:
                    if workload == "login" and round_ == 0 and server is SERVERS[0]:
                        requests.post(
                            f"{url}/register",
                            timeout=30,
                            json={"username": "bench_user", "password": STRONG_PASSWORD},
                        )
                    if workload == "read" and book_id is None:
                        book_id = _seed_one_book(data)
                    target = f"{url}/books/{book_id}" if workload == "read" else f"{url}/login"
                    connections = 16 if workload == "read" else 8
                    result = wrk(
                        target, args.seconds, connections, lua if workload == "login" else None
                    )
                finally:
                    stop(process)
                results.setdefault((server.name, workload), []).append(result)
                print(f"round {round_ + 1} {server.name} {workload}: {result}", file=sys.stderr)
                time.sleep(1)
    print(f"\n{args.rounds} rounds of {args.seconds} s per cell, medians; wrk -t2, same machine\n")
    print("| server | workload | req/s | p50 ms | p99 ms | non-2xx |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for (name, workload), runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(
            f"| {name} | {workload} | {med['rps']:.0f} | {med['p50']:.1f} | {med['p99']:.1f} "
            f"| {med['errors']:.0f} |"
        )


def _seed_one_book(data: Path) -> int:
    from sqlalchemy import insert

    from books_service.models import Book
    from common.db import Database

    db = Database(f"sqlite:///{data / 'books.db'}")
    with db.transaction() as session:
        result = session.execute(
            insert(Book).values(title="Dom Casmurro", author="Machado de Assis", created_by="bench")
        )
        book_id = int(result.inserted_primary_key[0])
    db.dispose()
    return book_id


if __name__ == "__main__":
    main()
