"""What a login costs beside its password check, and how long logins wait for one, in process.

    .venv/bin/python -m bench.logins [--rounds 5] [--logins 30] [--cheap] [--tree DIR]
    .venv/bin/python -m bench.logins --gate [--threads 16] [--seconds 6]

By default: the real Auth app on a SQLite file in a temporary directory, its WSGI callable
called directly (no test client, no network), ``--logins`` logins a round, against bare
argon2id verification (argon2-cffi at the same parameters) in the same process, the two taking
turns; it prints the CPU time (``time.process_time``) of each, what a login costs beyond
argon2, and argon2's share of a login (issue 12 asks for 0.85). ``--cheap`` uses argon2's
cheapest parameters (8 MiB, t=1), so that what is not argon2 stands out. ``--tree`` measures
another checkout (run both in turn and compare).

``--gate``: ``--threads`` threads check passwords for ``--seconds`` through a ``Hasher`` that
checks one at a time (``ARGON2_CONCURRENCY=1``, as each of ``make run``'s two workers on two
cores), with its first-come, first-served gate and with a ``threading.BoundedSemaphore`` in its
place, taking turns; it prints checks per second and the p50, p99 and longest wait-and-check.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PASSWORD = "correct horse battery staple"  # noqa: S105 (a throwaway account)


def call(app: Callable[..., Any], path: str, body: dict[str, str]) -> tuple[str, Any]:
    """One request straight to the WSGI callable, with the environ a server would give."""
    data = json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5001",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(data)),
        "HTTP_HOST": "127.0.0.1:5001",
        "wsgi.input": io.BytesIO(data),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    statuses: list[str] = []
    answer = b"".join(app(environ, lambda status, _headers, _info=None: statuses.append(status)))
    return statuses[0], json.loads(answer)


def login_cpu(rounds: int, logins: int, cheap: bool) -> None:
    from argon2 import PasswordHasher, Type

    from auth_service.app import create_app, prepare
    from auth_service.config import AuthSettings

    argon2 = {"argon2_memory_kib": 8192, "argon2_time_cost": 1} if cheap else {}
    with tempfile.TemporaryDirectory() as data_dir:
        settings = AuthSettings(
            data_dir=Path(data_dir),
            rate_limits_enabled=False,
            login_free_attempts=1000,
            **argon2,  # type: ignore[arg-type]  # two int settings, by name
        )
        prepare(settings)
        app = create_app(settings)
        call(app, "/register", {"username": "bench", "password": PASSWORD})
        bare = PasswordHasher(
            settings.argon2_time_cost,
            settings.argon2_memory_kib,
            settings.argon2_parallelism,
            type=Type.ID,
        )
        stored = bare.hash(PASSWORD)
        cpu: dict[str, list[float]] = {"login": [], "argon2": []}
        for round_ in range(rounds):
            for what in ("login", "argon2") if round_ % 2 == 0 else ("argon2", "login"):
                start = time.process_time()
                for _ in range(logins):
                    if what == "login":
                        status, answer = call(
                            app, "/login", {"username": "bench", "password": PASSWORD}
                        )
                        if not status.startswith("200"):
                            raise SystemExit(f"login failed: {status} {answer}")
                    else:
                        bare.verify(stored, PASSWORD)
                cpu[what].append((time.process_time() - start) * 1000 / logins)
        app.extensions["estante.db"].dispose()
    login, argon2_ms = statistics.median(cpu["login"]), statistics.median(cpu["argon2"])
    print(
        f"login {login:.2f} ms of CPU, bare argon2id {argon2_ms:.2f} ms: beyond argon2 "
        f"{login - argon2_ms:.2f} ms, argon2's share of a login {argon2_ms / login:.3f} "
        f"(logins {', '.join(f'{v:.2f}' for v in cpu['login'])}; "
        f"argon2 {', '.join(f'{v:.2f}' for v in cpu['argon2'])})"
    )


def gate_round(fair: bool, threads: int, seconds: float) -> tuple[float, float, float, float]:
    from auth_service.passwords import Hasher

    hasher = Hasher(concurrency=1)
    if not fair:
        hasher._turns = threading.BoundedSemaphore(1)  # type: ignore[assignment]  # the old gate
    stored = hasher.hash(PASSWORD)
    waits: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def check() -> None:
        mine = []
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            hasher.verify(stored, PASSWORD)
            mine.append(time.perf_counter() - start)
        with lock:
            waits.extend(mine)

    pool = [threading.Thread(target=check) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    waits.sort()
    p99 = waits[max(0, int(len(waits) * 0.99) - 1)]
    return len(waits) / seconds, statistics.median(waits) * 1000, p99 * 1000, waits[-1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--logins", type=int, default=30)
    parser.add_argument("--cheap", action="store_true", help="argon2's cheapest parameters")
    parser.add_argument("--tree", type=Path, help="another checkout to measure")
    parser.add_argument("--gate", action="store_true", help="waits at the argon2 gate")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=6)
    args = parser.parse_args()
    if args.tree:
        sys.path.insert(0, str(args.tree.resolve()))
    logging.disable(logging.INFO)
    if not args.gate:
        login_cpu(args.rounds, args.logins, args.cheap)
        return
    results: dict[str, list[tuple[float, float, float, float]]] = {"semaphore": [], "fair": []}
    for round_ in range(args.rounds):
        for kind in ("semaphore", "fair") if round_ % 2 == 0 else ("fair", "semaphore"):
            results[kind].append(gate_round(kind == "fair", args.threads, args.seconds))
    for kind, rounds in results.items():
        print(
            f"{kind}: {statistics.median(r[0] for r in rounds):.1f} checks/s, p50 "
            f"{statistics.median(r[1] for r in rounds):.0f} ms, p99 "
            f"{statistics.median(r[2] for r in rounds):.0f} ms, longest "
            f"{statistics.median(r[3] for r in rounds):.0f} ms"
        )


if __name__ == "__main__":
    main()
