"""How long a service takes from its start script to both workers serving, against another
checkout, interleaved (each round starts every service in both trees, in alternating order).

    .venv/bin/python -m bench.start_time --against /work/main [--rounds 4]
        [--services books_service,auth_service,web_service]

Each start is on a new data directory migrated beforehand (``<service>.py migrate``), as every
start but a deployment's first; the time runs until the log says both workers started (Granian
logs "Started worker-N" once the worker has built the app). Prints each service's medians, the
runs and the ratio.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.servers import spawn
from tests.support.harness import free_port

PORT_VARIABLES = {
    "auth_service": "AUTH_PORT",
    "books_service": "BOOKS_PORT",
    "web_service": "WEB_PORT",
}


def started(tree: Path, service: str, data_dir: Path, workers: int = 2) -> float:
    """Seconds from running the start script to every worker serving."""
    python = str(tree / ".venv" / "bin" / "python")
    env = {
        **os.environ,
        "ESTANTE_DATA_DIR": str(data_dir),
        "ESTANTE_LOG_LEVEL": "INFO",
        "ESTANTE_WORKERS": str(workers),
        PORT_VARIABLES[service]: str(free_port()),
    }
    script = f"{service}/{service}.py"
    subprocess.run([python, script, "migrate"], cwd=tree, env=env, check=True, capture_output=True)
    log_path = data_dir / "service.log"
    with log_path.open("wb") as log:
        began = time.monotonic()
        process = spawn([python, script], env=env, cwd=tree, output=log)
    try:
        while not all(f"Started worker-{n}" in log_path.read_text() for n in range(1, workers + 1)):
            if process.poll() is not None:
                raise RuntimeError(log_path.read_text())
            time.sleep(0.01)
        return time.monotonic() - began
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", type=Path, required=True, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--services", default=",".join(PORT_VARIABLES))
    args = parser.parse_args()
    trees = {"this": Path(__file__).resolve().parent.parent, "other": args.against.resolve()}
    services = args.services.split(",")
    times: dict[tuple[str, str], list[float]] = {(s, t): [] for s in services for t in trees}
    for round_ in range(args.rounds):
        order = list(trees) if round_ % 2 == 0 else list(trees)[::-1]
        for service in services:
            for name in order:
                with tempfile.TemporaryDirectory(prefix="start_time_") as data_dir:
                    times[(service, name)].append(started(trees[name], service, Path(data_dir)))
    print(f"| service | {trees['other']} (median s) | {trees['this']} | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for service in services:
        other, this = times[(service, "other")], times[(service, "this")]
        runs = {name: ", ".join(f"{t:.2f}" for t in times[(service, name)]) for name in trees}
        print(
            f"| {service} | {statistics.median(other):.2f} ({runs['other']}) | "
            f"{statistics.median(this):.2f} ({runs['this']}) | "
            f"{statistics.median(this) / statistics.median(other):.2f} |"
        )


if __name__ == "__main__":
    main()
