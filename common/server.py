"""Serve a service with Granian, the production WSGI server, as its start scripts do.

The one-time preparation (configuration check, keys, migrations) runs before any worker starts,
so workers never race to create the same file or table. It runs in a child process, forked for
it and gone when it is done: the main process, which supervises the workers for the life of the
service, never imports the app, its libraries nor the settings' (Granian and the standard
library only, about 28 MB), and each worker imports the app itself.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from granian.constants import Interfaces
from granian.log import logger as granian_log
from granian.server import MPServer

from common.log_format import configure_logging
from common.malloc import share_one_malloc_arena

# common.config's, which this module does not import: it loads pydantic.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("estante.server")
# The service's real app factory, handed to the workers (forked or spawned) through the
# environment: Granian's target must be an import string, and this one is always the same.
APP_FACTORY_ENV = "ESTANTE_APP_FACTORY"


def _import(path: str) -> Any:
    """What an import string (``module:name``) names, imported."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


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
    return _import(os.environ[APP_FACTORY_ENV])()


# The main process's signal mask while it forks a worker (SIGTERM blocked), restored after.
_mask_before_fork: set[int | signal.Signals] = set()


def _hold_sigterm_over_the_fork() -> None:
    """Before a worker is forked: SIGTERM is held (blocked, so pending, never lost) until the
    child has its own handler. A stop right as a worker was forked sent it a SIGTERM that
    landed before the child's handler was set; Python in the child dropped it (it clears the
    signals caught before the fork) or ran the main process's handler, and the worker was
    killed after ESTANTE_SHUTDOWN_TIMEOUT."""
    global _mask_before_fork
    _mask_before_fork = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def _release_sigterm() -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, _mask_before_fork)


def _leave_on_sigterm_until_serving() -> None:
    """In a just-forked worker: a SIGTERM before Granian's own handler is set ends it at once.

    A forked worker inherits the main process's SIGTERM handler, which in the child only sets
    a flag nobody reads, and Granian sets the worker's own handler only once the app is built.
    A SIGTERM landing in between (a stop right after a start) was swallowed, and the stop
    waited ESTANTE_SHUTDOWN_TIMEOUT before killing a worker that had never served a request.
    Installed at fork time, so no moment of the worker's start is left uncovered.
    """
    signal.signal(signal.SIGTERM, _leave_before_serving)
    _release_sigterm()  # a SIGTERM held since the fork now reaches this handler


def _leave_before_serving(signum: int, frame: object) -> None:
    """Nothing is in flight before the worker serves, so there is nothing to wait for: the
    worker leaves at once, without Python's shutdown, which would wait for the threads the app
    may have started while being built and leave it hanging until Granian kills it."""
    os._exit(0)


class Server(MPServer):
    """Granian's server (the one ``granian.Granian`` is where Python has a GIL), with a stop that
    waits for a worker already on its way out. Granian's own gives a worker 1 ms after ``join``
    returned: the worker's pipe closes as it exits, a moment before the kernel reports it
    ended, and on a busy machine that moment is longer; the worker, which had stopped
    gracefully, was then logged as refusing to stop and killed (now and then in the suite's
    stop tests and in CI). Here it has what is left of the kill timeout to be reported ended,
    as a worker that really does not stop has. Its lines are Granian's own, in its log."""

    def _stop_workers(self) -> None:
        for worker in self.wrks:
            worker.terminate()
        limit = self.workers_kill_timeout
        deadline = time.monotonic() + limit if limit else None
        for worker in self.wrks:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
            worker.join(left)
            # Without a kill timeout (Granian's 0), a worker is waited for as long as it takes.
            while worker.is_alive() and (deadline is None or time.monotonic() < deadline):
                time.sleep(0.005)
            if worker.is_alive():
                granian_log.warning(
                    f"Killing worker-{worker.idx + 1} after it refused to gracefully stop"
                )
                worker.kill()
                worker.join()
            granian_log.info(f"Stopped worker-{worker.idx + 1}")
        self.wrks.clear()


# How the preparing child's exit says that the configuration is wrong (said on stderr).
CONFIG_ERROR_EXIT = 2


def _prepare(settings_class: str, prepare: str, migrate_only: bool) -> dict[str, Any]:
    """In the preparing child: the settings read and checked, the preparation done, and what
    the main process needs to serve. Imported here, in the child: the main never loads them."""
    from pydantic import ValidationError

    from common.config import ConfigError
    from common.metrics import MULTIPROC_ENV, prepare_multiprocess_dir
    from common.problem_json import field_errors

    try:
        settings = _import(settings_class)()
    except ValidationError as error:
        lines = "\n".join(f"  - {e['field']}: {e['message']}" for e in field_errors(error))
        raise ConfigError(f"invalid settings in the environment:\n{lines}") from None
    if migrate_only:  # migrating is the whole point, whatever ESTANTE_AUTO_MIGRATE says
        settings = settings.model_copy(update={"auto_migrate": True})
    configure_logging(settings.log_level)
    _import(prepare)(settings)
    environment = {}
    if not migrate_only:
        # Workers add up their metrics through files in one directory, emptied at each start.
        prepare_multiprocess_dir(
            settings.metrics_dir or settings.data_dir / "metrics" / settings.service_name
        )
        environment[MULTIPROC_ENV] = os.environ[MULTIPROC_ENV]
    return {
        "service": settings.service_name,
        "log_level": settings.log_level,
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "threads": settings.threads,
        "shutdown_timeout": settings.shutdown_timeout,
        "database": settings.database_url.split("@")[-1],
        "environment": environment,
    }


def prepared_in_child(settings_class: str, prepare: str, migrate_only: bool) -> dict[str, Any]:
    """The preparation, in a forked child that reports on a pipe and exits: what it imported
    (the app, SQLAlchemy, pydantic...) goes with it. A wrong configuration ends the start with
    the child's message and exit status 2; any other failure with its traceback and status 1.
    A stop (SIGTERM, SIGINT) meanwhile stops the child too."""
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the child: never returns
        os.close(reading)
        status = 0
        try:
            from common.config import ConfigError

            try:
                answer = json.dumps(_prepare(settings_class, prepare, migrate_only))
                with os.fdopen(writing, "w") as pipe:
                    pipe.write(answer)
            except ConfigError as error:
                print(f"error: {error}", file=sys.stderr)
                status = CONFIG_ERROR_EXIT
        except KeyboardInterrupt:  # Ctrl-C: stopped, nothing went wrong
            status = 128 + signal.SIGINT
        except BaseException:  # whatever it is, the parent must learn of it, not a second main
            traceback.print_exc()
            status = 1
        finally:
            sys.stdout.flush()  # whatever the preparation printed, before the process goes
            sys.stderr.flush()
            os._exit(status)
    os.close(writing)
    stopped: list[int] = []

    def stop_child(signum: int, frame: object) -> None:
        stopped.append(signum)
        os.kill(child, signum)

    previous = {sig: signal.signal(sig, stop_child) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with os.fdopen(reading) as pipe:
            answer = pipe.read()
        _, status = os.waitpid(child, 0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stopped:  # a stop before the service served: nothing to serve, nothing went wrong
        raise SystemExit(128 + stopped[0])
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or not answer:
        raise SystemExit(code if code > 0 else 1)
    plan: dict[str, Any] = json.loads(answer)
    return plan


def serve(settings_class: str, prepare: str, app_factory: str) -> None:
    """Prepare and serve; with the single argument ``migrate``, prepare (migrate) and exit,
    which is what a deployment runs once before starting the replicas. The three arguments are
    import strings (``module:name``): the settings' class, the preparation and the app factory,
    imported by the preparing child and the workers, never by this process."""
    migrate_only = sys.argv[1:] == ["migrate"]
    share_one_malloc_arena()  # before any thread or worker exists: they all inherit it
    plan = prepared_in_child(settings_class, prepare, migrate_only)
    if migrate_only:
        print(f"{plan['service']}: database migrated", file=sys.stderr)
        return
    configure_logging(plan["log_level"])
    os.environ.update(plan["environment"])
    url = f"http://{plan['host']}:{plan['port']}"
    log.info(
        "starting",
        extra={
            "fields": {
                "service": plan["service"],
                "listening": url,
                "workers": plan["workers"],
                "database": plan["database"],
            }
        },
    )
    print(f"{plan['service']} listening on {url}", file=sys.stderr, flush=True)
    os.environ[APP_FACTORY_ENV] = app_factory
    if hasattr(os, "register_at_fork"):  # POSIX: workers are forked from this process
        os.register_at_fork(
            before=_hold_sigterm_over_the_fork,
            after_in_parent=_release_sigterm,
            after_in_child=_leave_on_sigterm_until_serving,
        )
    Server(
        f"{__name__}:worker_app",
        factory=True,
        address=plan["host"],
        port=plan["port"],
        interface=Interfaces.WSGI,
        workers=plan["workers"],
        blocking_threads=plan["threads"],
        working_dir=PROJECT_ROOT,
        log_access=False,
        respawn_failed_workers=True,
        # In-flight requests get this long to finish on SIGTERM; then a worker that will not
        # stop (one caught still starting up, say) is killed rather than hang the shutdown.
        workers_kill_timeout=plan["shutdown_timeout"],
    ).serve()
