"""``make run``: the three services (Auth, Books and the web interface) in one terminal, stopped
together by Ctrl-C or SIGTERM.

Each service is started exactly as the spec says (``python <service>/<service>.py``); this
module only supervises: if one of them exits, the others are stopped too. The web service is
pointed at the other two (``AUTH_URL``, ``BOOKS_URL``) on the ports they were given, unless
those are set.

Each service runs in a session of its own, out of the terminal's reach: Ctrl-C (SIGINT to the
terminal's whole process group) reaches only the launcher, which then sends each service one
SIGTERM. Every process gets exactly one signal, so requests in flight finish and the workers
stop in well under a second.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

# Only the standard library here: this process supervises for as long as the services run, and
# every module it imports stays in its memory all that time (the settings, with pydantic, are
# read once, when the services are stopped).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

SERVICES = ("auth_service", "books_service", "web_service")
STOP_MARGIN_SECONDS = 10
# Closing the terminal (SIGHUP) stops the services too: out of its process group, they would
# otherwise keep running with nobody to stop them.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def start(service: str) -> subprocess.Popen[bytes]:
    script = PROJECT_ROOT / service / f"{service}.py"
    return subprocess.Popen(  # noqa: S603
        [sys.executable, str(script)],
        cwd=PROJECT_ROOT,
        env=service_environment(service, os.environ),
        start_new_session=True,
    )


def service_environment(service: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The launcher's environment; for the web service, with the APIs' local addresses."""
    env = dict(environ)
    if service == "web_service":
        env.setdefault("AUTH_URL", f"http://127.0.0.1:{environ.get('AUTH_PORT') or 5001}")
        env.setdefault("BOOKS_URL", f"http://127.0.0.1:{environ.get('BOOKS_PORT') or 5002}")
    return env


def stop_all(processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # its main process stops its workers
        else:
            # It died on its own (killed, say): workers it left behind, in its process group,
            # would hold the port with nobody to stop them.
            _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)  # its own group: its workers too
            process.wait()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # nobody left in it
        os.killpg(process.pid, signum)


def stop_timeout() -> float:
    """How long the services may take to stop: their own grace for requests in flight
    (``ESTANTE_SHUTDOWN_TIMEOUT``) and a little more to exit. Settings the services refused
    (they said why as they exited) leave the default grace."""
    from pydantic import ValidationError

    from common.config import ServiceSettings

    try:
        grace = ServiceSettings().shutdown_timeout
    except ValidationError:
        grace = ServiceSettings.model_fields["shutdown_timeout"].default
        print(
            f"invalid settings in the environment: stopping with the default grace ({grace} s)",
            file=sys.stderr,
        )
    return float(grace + STOP_MARGIN_SECONDS)


def main() -> int:
    stopping = False

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    for signum in STOP_SIGNALS:
        signal.signal(signum, request_stop)
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
        stop_all(processes, stop_timeout())
    if stopping:
        print("stopped", file=sys.stderr)
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
