"""How long a service takes to start: seconds from its start script's launch to every worker
serving (Granian's "Started worker-N" lines), for this checkout and, with ``--against DIR``,
another one, taking turns.

    .venv/bin/python -m bench.starts [--service books_service] [--rounds 8] [--against DIR]

Each tree gets a data directory of its own, migrated by a first start that is not counted, so
the starts measured are later ones (databases at the head), as most starts are. A start is
stopped (SIGTERM to its process group) as soon as its workers serve. Medians and ranges are
printed; the machine is shared, so compare the two trees of one run, not runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.harness import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("auth_service", "books_service", "web_service")


def start_seconds(tree: Path, service: str, data_dir: str) -> float:
    """One start of ``service`` from ``tree``: seconds until all its workers serve."""
    workers = 1 if service == "auth_service" else 2
    env = {
        **os.environ,
        "ESTANTE_DATA_DIR": data_dir,
        "ESTANTE_LOG_LEVEL": "INFO",
        "ESTANTE_WORKERS": "2",
        "AUTH_WORKERS": "1",
        **{name: str(free_port()) for name in ("AUTH_PORT", "BOOKS_PORT", "WEB_PORT")},
    }
    started = time.monotonic()
    process = subprocess.Popen(
        [str(tree / ".venv" / "bin" / "python"), str(tree / service / f"{service}.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    serving = 0
    for line in process.stdout:
        serving += "Started worker-" in line
        if serving == workers:
            break
    took = time.monotonic() - started
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)
    if serving < workers:
        raise SystemExit(f"{tree}: {service} stopped before its workers served")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", choices=SERVICES, default="books_service")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--against", type=Path, help="another checkout, measured in turns")
    args = parser.parse_args()
    trees = [PROJECT_ROOT] + ([args.against.resolve()] if args.against else [])
    times: dict[Path, list[float]] = {tree: [] for tree in trees}
    with tempfile.TemporaryDirectory() as scratch:
        data = {tree: tempfile.mkdtemp(dir=scratch) for tree in trees}
        for tree in trees:
            start_seconds(tree, args.service, data[tree])  # migrates: not counted
        for round_ in range(args.rounds):
            for tree in trees if round_ % 2 == 0 else trees[::-1]:
                times[tree].append(start_seconds(tree, args.service, data[tree]))
                print(f"round {round_ + 1} {tree}: {times[tree][-1]:.2f} s", file=sys.stderr)
    for tree, seconds in times.items():
        print(
            f"{tree} {args.service}: median {statistics.median(seconds):.2f} s "
            f"({min(seconds):.2f}-{max(seconds):.2f}, {len(seconds)} starts)"
        )


if __name__ == "__main__":
    main()
