"""What issuing costs, without the network: refreshes per second through the real Auth app
(its WSGI test client) on a SQLite file in a temporary directory, one session rotated again and
again. Each refresh is one write transaction: the user's and session's rows locked, the token
marked used, a new one stored, the access token signed and its expiry recorded.

    .venv/bin/python -m bench.refresh [--rounds 5] [--refreshes 300] [--tree DIR]

``--tree`` measures another checkout of Estante (say, a ``git worktree`` of the previous
commit) with this script, for a side-by-side comparison; run both in turn, several times, and
compare medians: the machine is noisy.

``--http`` measures over real HTTP instead: the Auth Service started as ``make run`` starts it
(``auth_service/auth_service.py``: Granian, its configured workers and threads), ``--clients``
sessions each refreshed again and again from a thread of their own for ``--seconds``; it
prints refreshes per second and the p99 latency. The load generator shares the cores.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Nothing of Estante is imported before --tree is on the path, or that tree would not be the one
# measured.
PASSWORD = "correct horse battery staple"  # noqa: S105 (a throwaway account)


def refreshes_per_second(refreshes: int) -> tuple[float, float]:
    """Refreshes per second of wall-clock time, and per second of this process's CPU time
    (what a busy, shared machine disturbs least)."""
    from auth_service.app import create_app, prepare
    from auth_service.config import AuthSettings

    with tempfile.TemporaryDirectory() as data_dir:
        settings = AuthSettings(
            data_dir=Path(data_dir), argon2_memory_kib=8192, rate_limits_enabled=False
        )
        prepare(settings)
        app = create_app(settings)
        client = app.test_client()
        registered = client.post("/register", json={"username": "bench", "password": PASSWORD})
        token = registered.get_json()["refresh_token"]
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(refreshes):
            answer = client.post("/token/refresh", json={"refresh_token": token})
            if answer.status_code != 200:
                raise SystemExit(f"refresh failed: {answer.status_code} {answer.get_json()}")
            token = answer.get_json()["refresh_token"]
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        app.extensions["estante.db"].dispose()
    return refreshes / elapsed, refreshes / cpu


def _http_round(tree: Path, clients: int, seconds: float) -> tuple[float, float]:
    import os
    import signal
    import socket
    import subprocess
    import threading

    import requests

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "ESTANTE_DATA_DIR": data_dir,
            "AUTH_PORT": str(port),
            "ESTANTE_LOG_LEVEL": "WARNING",
            "RATE_LIMITS_ENABLED": "false",
        }
        server = subprocess.Popen(
            [sys.executable, "auth_service/auth_service.py"],
            cwd=tree,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the Auth Service did not start")
                time.sleep(0.2)
            tokens = [
                requests.post(
                    f"{url}/register",
                    json={"username": f"bench{number}", "password": PASSWORD},
                    timeout=60,
                ).json()["refresh_token"]
                for number in range(clients)
            ]
            latencies: list[float] = []
            lock = threading.Lock()
            stop_at = time.monotonic() + seconds

            def client(token: str) -> None:
                http = requests.Session()
                mine = []
                while time.monotonic() < stop_at:
                    start = time.perf_counter()
                    answer = http.post(
                        f"{url}/token/refresh", json={"refresh_token": token}, timeout=60
                    )
                    mine.append(time.perf_counter() - start)
                    if answer.status_code != 200:
                        raise SystemExit(f"refresh failed: {answer.status_code}")
                    token = answer.json()["refresh_token"]
                with lock:
                    latencies.extend(mine)

            threads = [threading.Thread(target=client, args=(token,)) for token in tokens]
            began = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - began
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0
    return len(latencies) / elapsed, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--refreshes", type=int, default=300)
    parser.add_argument("--tree", type=Path, help="another checkout to measure")
    parser.add_argument("--http", action="store_true", help="over HTTP, as make run serves it")
    parser.add_argument("--clients", type=int, default=8, help="with --http")
    parser.add_argument("--seconds", type=float, default=10, help="with --http")
    args = parser.parse_args()
    if args.http:
        tree = (args.tree or Path(__file__).resolve().parent.parent).resolve()
        results = [_http_round(tree, args.clients, args.seconds) for _ in range(args.rounds)]
        rates = [rate for rate, _ in results]
        p99s = [p99 for _, p99 in results]
        print(
            f"{tree} over HTTP, {args.clients} clients: median {statistics.median(rates):.0f} "
            f"refreshes/s ({', '.join(f'{rate:.0f}' for rate in rates)}), "
            f"p99 {statistics.median(p99s):.0f} ms"
        )
        return
    if args.tree:
        sys.path.insert(0, str(args.tree.resolve()))
    logging.disable(logging.INFO)  # the access log of every refresh is not what is measured
    rounds = [refreshes_per_second(args.refreshes) for _ in range(args.rounds)]
    tree = args.tree or Path.cwd()
    wall = [rate for rate, _ in rounds]
    cpu = [rate for _, rate in rounds]
    print(
        f"{tree}: median {statistics.median(wall):.0f} refreshes/s "
        f"({', '.join(f'{rate:.0f}' for rate in wall)}); per CPU second "
        f"{statistics.median(cpu):.0f} ({', '.join(f'{rate:.0f}' for rate in cpu)})"
    )


if __name__ == "__main__":
    main()
