"""Serve a service with Granian, the production WSGI server, as its start scripts do.

The one-time preparation (settings checked, keys, migrations) runs before any worker starts, so
workers never race to create the same file or table, and it runs in a child process
(:mod:`common.preparation`) which exits once done: this main process supervises the workers for
as long as the service runs and imports Granian and the standard library only (no Flask,
SQLAlchemy or pydantic, 40-50 MB it would keep). Each worker imports and builds the app itself.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from granian import Granian
from granian.constants import Interfaces

from common.malloc import share_one_malloc_arena

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The service's real app factory, handed to the workers (forked or spawned) through the
# environment: Granian's target must be an import string, and this one is always the same.
APP_FACTORY_ENV = "ESTANTE_APP_FACTORY"
_RUN_PREPARATION = (
    f"import sys; sys.path.insert(0, {str(PROJECT_ROOT)!r}); "
    "from common.preparation import main; raise SystemExit(main(sys.argv[1:]))"
)


def worker_app() -> object:
    """What every Granian worker serves: the service's app, in a worker deaf to SIGINT.

    Ctrl-C in a terminal sends SIGINT to the whole process group, workers included, and the
    Granian main process then sends each worker SIGTERM as well. Caught by two signals at once
    a worker could miss both (its main thread never woke up) and was killed after
    ESTANTE_SHUTDOWN_TIMEOUT, requests in flight and all. Blocked here, before the worker's
    threads exist (they inherit the mask), SIGINT never reaches a worker: the main process
    alone drives the graceful stop, with the one SIGTERM it sends.
    """
    if hasattr(signal, "pthread_sigmask"):  # POSIX only: Windows has no signal masks
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    module, _, factory = os.environ[APP_FACTORY_ENV].partition(":")
    return getattr(importlib.import_module(module), factory)()


def _leave_on_sigterm_until_serving() -> None:
    """In a just-forked worker: a SIGTERM before Granian's own handler is set ends it at once.

    A forked worker inherits the main process's SIGTERM handler, which in the child only sets
    a flag nobody reads, and Granian sets the worker's own handler only once the app is built.
    A SIGTERM landing in between (a stop right after a start) was swallowed, and the stop
    waited ESTANTE_SHUTDOWN_TIMEOUT before killing a worker that had never served a request.
    Installed at fork time, so no moment of the worker's start is left uncovered.
    """
    signal.signal(signal.SIGTERM, _leave_before_serving)


def _leave_before_serving(signum: int, frame: object) -> None:
    """Nothing is in flight before the worker serves, so there is nothing to wait for: the
    worker leaves at once, without Python's shutdown, which would wait for the threads the app
    may have started while being built (a worker imports and builds it itself, for a second or
    more) and leave it hanging until Granian kills it."""
    os._exit(0)


def prepare_in_child(settings: str, prepare: str) -> dict[str, Any]:
    """Run the preparation in a child process; what serving takes (see
    :func:`common.preparation.prepared`). A refused setting or a failed preparation ends this
    process with the child's exit status, its message already on stderr."""
    read_end, write_end = os.pipe()
    try:
        # In this process's directory, as the workers (relative paths in the settings mean the
        # same to all of them), with the project importable from there.
        child = subprocess.Popen(  # noqa: S603 (this Python, this project's module)
            [sys.executable, "-c", _RUN_PREPARATION, str(write_end), settings, prepare],
            pass_fds=(write_end,),
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end) as pipe:
        answer = pipe.read()
    status = child.wait()
    if status != 0 or not answer:
        raise SystemExit(status or 1)
    return dict(json.loads(answer))


def serve(settings: str, prepare: str, app_factory: str) -> None:
    """Prepare and serve; with the single argument ``migrate``, prepare (migrate) and exit,
    which is what a deployment runs once before starting the replicas. ``settings``,
    ``prepare`` and ``app_factory`` are import strings (``auth_service.app:prepare``): this
    process never imports them."""
    if sys.argv[1:] == ["migrate"]:
        from common.preparation import migrate

        raise SystemExit(migrate(settings, prepare))
    share_one_malloc_arena()  # before any thread or worker exists: they all inherit it
    served = prepare_in_child(settings, prepare)
    os.environ.update(served["environ"])
    os.environ[APP_FACTORY_ENV] = app_factory
    if hasattr(os, "register_at_fork"):  # POSIX: workers are forked from this process
        os.register_at_fork(after_in_child=_leave_on_sigterm_until_serving)
    # What this process has imported is shared with the forked workers until written to;
    # frozen, the collector of a worker never writes to it.
    gc.freeze()
    Granian(
        f"{__name__}:worker_app",
        factory=True,
        address=served["host"],
        port=served["port"],
        interface=Interfaces.WSGI,
        workers=served["workers"],
        blocking_threads=served["threads"],
        working_dir=PROJECT_ROOT,
        log_access=False,
        respawn_failed_workers=True,
        # In-flight requests get this long to finish on SIGTERM; then a worker that will not
        # stop (one caught still starting up, say) is killed rather than hang the shutdown.
        workers_kill_timeout=served["shutdown_timeout"],
    ).serve()
