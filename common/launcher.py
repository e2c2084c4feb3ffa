"""``make run``: both services in one terminal, stopped together by Ctrl-C or SIGTERM.

Each service is started exactly as the spec says (``python <service>/<service>.py``); this
module only supervises: if one of them exits, the other is stopped too.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType

from common.config import PROJECT_ROOT

SERVICES = ("auth_service", "books_service")
STOP_TIMEOUT_SECONDS = 20


def start(service: str) -> subprocess.Popen[bytes]:
    script = PROJECT_ROOT / service / f"{service}.py"
    return subprocess.Popen([sys.executable, str(script)], cwd=PROJECT_ROOT)  # noqa: S603


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> int:
    stopping = False

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    processes = [start(service) for service in SERVICES]
    exit_code = 0
    try:
        while not stopping:
            exited = [p for p in processes if p.poll() is not None]
            if exited:
                exit_code = exited[0].returncode or 1
                print(f"a service exited (code {exited[0].returncode}); stopping", file=sys.stderr)
                break
            time.sleep(0.2)
    finally:
        stop_all(processes)
    if stopping:
        print("stopped", file=sys.stderr)
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
