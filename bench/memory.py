"""How much memory a ``make run`` system takes: every process's RSS and PSS after a short mixed
load (registrations, logins, refreshes, book writes, lists, single books, searches and the web
catalog page), as the launcher serves it, on databases migrated beforehand.

    .venv/bin/python -m bench.memory [--seconds 30] [--books 200] [--tree DIR]

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
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

PASSWORD = "correct horse battery staple"  # noqa: S105 (throwaway accounts)


@dataclass(frozen=True)
class Process:
    pid: int
    role: str
    rss_kib: int
    pss_kib: int


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def _memory(pid: int) -> tuple[int, int]:
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == "Rss":
            rss = int(value.split()[0])
        elif name == "Pss":
            pss = int(value.split()[0])
    return rss, pss


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
        rss, pss = _memory(pid)
        processes.append(Process(pid, role, rss, pss))
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


def load(auth: str, books: str, web: str, seconds: float, book_count: int) -> int:
    """A short mixed load; returns how many requests it made."""
    requests_made = 0
    http = requests.Session()
    registered = http.post(
        f"{auth}/register",
        json={"username": f"bench_{uuid.uuid4().hex[:8]}", "password": PASSWORD},
        timeout=30,
    ).json()
    username = registered["user"]["username"]
    headers = {"Authorization": f"Bearer {registered['access_token']}"}
    refresh = registered["refresh_token"]
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
    round_number = 0
    while time.monotonic() < deadline:
        round_number += 1
        answer = http.post(f"{auth}/token/refresh", json={"refresh_token": refresh}, timeout=30)
        refresh = answer.json()["refresh_token"]
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        if round_number % 10 == 0:
            http.post(
                f"{auth}/login", json={"username": username, "password": PASSWORD}, timeout=30
            )
            requests_made += 1
        http.get(f"{books}/books?limit=50", timeout=30)
        http.get(f"{books}/books/{1 + round_number % book_count}", timeout=30)
        http.get(f"{books}/books?q=autor&limit=20", timeout=30)
        http.put(
            f"{books}/books/{1 + round_number % book_count}",
            json={"title": f"Livro {round_number}", "author": "Autor"},
            headers=headers,
            timeout=30,
        )
        http.get(f"{web}/", timeout=30)
        requests_made += 6
    return requests_made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--books", type=int, default=200)
    parser.add_argument("--tree", type=Path, help="another checkout to measure")
    args = parser.parse_args()
    tree = (args.tree or Path(__file__).resolve().parent.parent).resolve()
    ports = {name: _free_port() for name in ("AUTH_PORT", "BOOKS_PORT", "WEB_PORT")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            **{name: str(port) for name, port in ports.items()},
            "ESTANTE_DATA_DIR": data_dir,
            "ESTANTE_LOG_LEVEL": "WARNING",
            "AUTH_JWKS_URL": f"{urls['AUTH_PORT']}/.well-known/jwks.json",
            "RATE_LIMITS_ENABLED": "false",
        }
        log = Path(data_dir) / "system.log"
        # Migrated beforehand, as a deployment does (``<service>.py migrate``): the system is
        # measured as it starts every time but the first.
        for service in ("auth_service", "books_service", "web_service"):
            subprocess.run(
                [sys.executable, f"{service}/{service}.py", "migrate"],
                cwd=tree,
                env=env,
                check=True,
                capture_output=True,
            )
        with log.open("w") as output:
            system = subprocess.Popen(
                [sys.executable, "-m", "ops.launcher"],
                cwd=tree,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            for url in urls.values():
                _wait_ready(url, system)
            made = load(
                urls["AUTH_PORT"], urls["BOOKS_PORT"], urls["WEB_PORT"], args.seconds, args.books
            )
            processes = measure(system.pid)
        finally:
            system.send_signal(signal.SIGTERM)
            system.wait(60)
    print(f"{tree}: after {made} requests")
    print("| process | pid | RSS MB | PSS MB |\n| --- | ---: | ---: | ---: |")
    for process in processes:
        print(
            f"| {process.role} | {process.pid} | {process.rss_kib / 1024:.1f} "
            f"| {process.pss_kib / 1024:.1f} |"
        )
    total_rss = sum(p.rss_kib for p in processes) / 1024
    total_pss = sum(p.pss_kib for p in processes) / 1024
    print(f"| **whole system** | | {total_rss:.1f} | {total_pss:.1f} |")


if __name__ == "__main__":
    main()
