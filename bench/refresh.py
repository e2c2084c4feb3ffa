"""What issuing costs, without the network: refreshes per second through the real Auth app
(its WSGI test client) on a SQLite file in a temporary directory, one session rotated again and
again. Each refresh is one write transaction: the user's and session's rows locked, the token
marked used, a new one stored, the access token signed and its expiry recorded.

    .venv/bin/python -m bench.refresh [--rounds 5] [--refreshes 300] [--tree DIR]

``--tree`` measures another checkout of Estante (say, a ``git worktree`` of the previous
commit) with this script, for a side-by-side comparison; run both in turn, several times, and
compare medians: the machine is noisy.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--refreshes", type=int, default=300)
    parser.add_argument("--tree", type=Path, help="another checkout to measure")
    args = parser.parse_args()
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
