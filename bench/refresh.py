"""What issuing costs, without the network: refreshes per second through the real Auth app
(its WSGI test client) on a SQLite file in a temporary directory, one session rotated again and
again. Each refresh is one write transaction: the user's and session's rows locked, the token
marked used, a new one stored, the access token signed and its expiry recorded.

    .venv/bin/python -m bench.refresh [--rounds 5] [--refreshes 300] [--tree DIR]

``--tree`` measures another checkout of Estante (say, a ``git worktree`` of the previous
commit) with this script, for a side-by-side comparison; run both in turn, several times, and
compare medians: the machine is noisy.

``--wsgi`` calls the app's WSGI callable directly (the environ a server would give, as
``bench.logins`` does) instead of through Flask's test client, whose own work (building the
environ, cookies, the URL) was some 0.5 ms a refresh: closer to what a server's worker spends.

``--http`` measures over real HTTP instead: the Auth Service started as ``make run`` starts it
(``auth_service/auth_service.py``: Granian, its configured workers and threads), loaded by wrk
(one thread, ``--clients`` connections, ``--seconds``) from a pool of ``--clients`` sessions'
refresh tokens, each answer's new token put back in the pool; it prints refreshes per second,
the p99 latency and the service's CPU per refresh (all its processes, from ``/proc``: what a
shared machine disturbs least). ``--against DIR`` measures another checkout in the same run,
the two taking turns. The load generator shares the cores. ``--limited`` serves it with the
request limits on, as by default, counted in the auth database (no Redis), under a limit too
high to refuse any of the load: what counting a refresh costs.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.logins import call
from bench.servers import spawn
from tests.support.harness import free_port

# Nothing of Estante is imported before --tree is on the path, or that tree would not be the one
# measured (bench.logins imports none of it at its top).
PASSWORD = "correct horse battery staple"  # noqa: S105 (a throwaway account)


def refreshes_per_second(refreshes: int, wsgi: bool = False) -> tuple[float, float]:
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
            if wsgi:
                status, body = call(app, "/token/refresh", {"refresh_token": token})
            else:
                answer = client.post("/token/refresh", json={"refresh_token": token})
                status, body = answer.status, answer.get_json()
            if not status.startswith("200"):
                raise SystemExit(f"refresh failed: {status} {body}")
            token = body["refresh_token"]
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        app.extensions["estante.db"].dispose()
    return refreshes / elapsed, refreshes / cpu


# wrk's script: a pool of refresh tokens, one taken for each request and the rotated one put
# back from each answer, so every connection always presents a live token. wrk calls request()
# once before the run to check it: that call takes the first entry, which is no token.
_WRK_SCRIPT = """
local tokens = {"wrk-checks-the-script", %s}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local token = table.remove(tokens, 1) or "none"
  return wrk.format(nil, "/token/refresh", nil, '{"refresh_token": "' .. token .. '"}')
end
response = function(status, headers, body)
  local token = body:match('"refresh_token": *"([^"]+)"')
  if token then table.insert(tokens, token) end
end
"""


def _process_tree_cpu(pid: int) -> float:
    """CPU seconds (user and system) used so far by ``pid`` and its descendants."""
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


# With --limited: limits no round reaches, so every refresh is counted and none refused.
_UNREACHED_LIMIT = "100000000 per minute"


def _http_round(tree: Path, clients: int, seconds: float, limited: bool) -> dict[str, float]:
    """One round against a freshly started Auth Service of ``tree``: refreshes per second and
    p99 as wrk saw them (``clients`` connections, one thread), and the service's CPU (all its
    processes) per refresh."""
    import os
    import re
    import signal
    import subprocess

    import requests

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "ESTANTE_DATA_DIR": data_dir,
            "AUTH_PORT": str(port),
            "ESTANTE_LOG_LEVEL": "WARNING",
            "RATE_LIMITS_ENABLED": "true" if limited else "false",
            "RATE_LIMIT_REFRESH": _UNREACHED_LIMIT,
            "RATE_LIMIT_REGISTER": _UNREACHED_LIMIT,  # the accounts the pool's tokens are of
            "REDIS_URL": "",
        }
        server = spawn([sys.executable, "auth_service/auth_service.py"], env=env, cwd=tree)
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
            script = Path(data_dir) / "refresh.lua"
            script.write_text(_WRK_SCRIPT % ", ".join(f'"{token}"' for token in tokens))
            cpu_before = _process_tree_cpu(server.pid)
            argv = ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--latency", "-s"]
            out = subprocess.run(
                [*argv, str(script), url], capture_output=True, text=True, check=True
            ).stdout
            cpu = _process_tree_cpu(server.pid) - cpu_before
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    done = re.search(r"(\d+) requests in", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert rate and done and p99, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99[2]]
    return {
        "rate": float(rate[1]),
        "p99": float(p99[1]) * scale,
        "cpu_ms": cpu * 1000 / max(1, int(done[1])),
        "errors": float(errors[1]) if errors else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--refreshes", type=int, default=300)
    parser.add_argument("--tree", type=Path, help="another checkout to measure")
    parser.add_argument(
        "--wsgi", action="store_true", help="the WSGI callable called directly, no test client"
    )
    parser.add_argument("--http", action="store_true", help="over HTTP, as make run serves it")
    parser.add_argument(
        "--against", type=Path, help="with --http: another checkout, in interleaved rounds"
    )
    parser.add_argument("--clients", type=int, default=8, help="with --http: connections")
    parser.add_argument("--seconds", type=float, default=10, help="with --http")
    parser.add_argument(
        "--limited",
        action="store_true",
        help="with --http: the request limits on, counted in the auth database",
    )
    args = parser.parse_args()
    if args.http:
        here = Path(__file__).resolve().parent.parent
        trees = [(args.tree or here).resolve()]
        if args.against:
            trees.append(args.against.resolve())
        results: dict[Path, list[dict[str, float]]] = {tree: [] for tree in trees}
        for round_ in range(args.rounds):
            # Taking turns, the order swapped every round: the machine's load moves.
            for tree in trees if round_ % 2 == 0 else trees[::-1]:
                results[tree].append(_http_round(tree, args.clients, args.seconds, args.limited))
                print(f"round {round_ + 1} {tree}: {results[tree][-1]}", file=sys.stderr)
        for tree, rounds in results.items():
            rates = [result["rate"] for result in rounds]
            print(
                f"{tree} over HTTP, {args.clients} connections: median "
                f"{statistics.median(rates):.0f} refreshes/s "
                f"({', '.join(f'{rate:.0f}' for rate in rates)}), p99 "
                f"{statistics.median(result['p99'] for result in rounds):.0f} ms, service CPU "
                f"{statistics.median(result['cpu_ms'] for result in rounds):.2f} ms a refresh, "
                f"non-2xx {sum(result['errors'] for result in rounds):.0f}"
            )
        return
    if args.tree:
        sys.path.insert(0, str(args.tree.resolve()))
    logging.disable(logging.INFO)  # the access log of every refresh is not what is measured
    rounds = [refreshes_per_second(args.refreshes, args.wsgi) for _ in range(args.rounds)]
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
