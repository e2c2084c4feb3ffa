"""The one-time preparation of a service, in a child of its main process.

The main process (:mod:`common.server`) only supervises Granian's workers, for as long as the
service runs: whatever it imports it keeps (Flask, SQLAlchemy, pydantic: 40-50 MB), and its
forked workers share those pages only until reference counts dirty them. So the settings are
read and checked, keys made and the database migrated here, in a short-lived process that
imports what that takes and exits; the main is handed back only what Granian needs, as JSON on
a pipe. Run as ``python -m common.preparation FD SETTINGS PREPARE`` (import strings of the
settings class and the prepare function); exit status 2 on a setting refused (one line on
stderr), the way the start scripts always answered it.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from typing import Any

from pydantic import ValidationError

from common.config import ConfigError, ServiceSettings
from common.log_format import configure_logging
from common.metrics_dir import MULTIPROC_ENV, prepare_multiprocess_dir
from common.validation import field_errors

log = logging.getLogger("estante.server")


def load(name: str) -> Any:
    """The object an import string (``package.module:name``) names."""
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)


def load_settings(settings_class: type[ServiceSettings]) -> ServiceSettings:
    try:
        return settings_class()
    except ValidationError as error:
        lines = "\n".join(f"  - {e['field']}: {e['message']}" for e in field_errors(error))
        raise ConfigError(f"invalid settings in the environment:\n{lines}") from None


def prepared(settings_name: str, prepare_name: str, *, migrate_only: bool) -> dict[str, Any]:
    """Check the settings and prepare the service; what serving it takes, or ``{}`` after a
    ``migrate`` (migrating is its whole point, whatever ESTANTE_AUTO_MIGRATE says)."""
    settings = load_settings(load(settings_name))
    if migrate_only:
        settings = settings.model_copy(update={"auto_migrate": True})
    configure_logging(settings.log_level)
    load(prepare_name)(settings)
    if migrate_only:
        return {"service": settings.service_name}
    # Workers add up their metrics through files in one directory, emptied at each start.
    prepare_multiprocess_dir(
        settings.metrics_dir or settings.data_dir / "metrics" / settings.service_name
    )
    url = f"http://{settings.host}:{settings.port}"
    log.info(
        "starting",
        extra={
            "fields": {
                "service": settings.service_name,
                "listening": url,
                "workers": settings.workers,
                "database": settings.database_url.split("@")[-1],
            }
        },
    )
    print(f"{settings.service_name} listening on {url}", file=sys.stderr, flush=True)
    return {
        "service": settings.service_name,
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "threads": settings.threads,
        "shutdown_timeout": settings.shutdown_timeout,
        "environ": {MULTIPROC_ENV: os.environ[MULTIPROC_ENV]},
    }


def migrate(settings_name: str, prepare_name: str) -> int:
    """``<service>.py migrate``: prepare (migrate) in this process and exit."""
    try:
        answer = prepared(settings_name, prepare_name, migrate_only=True)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{answer['service']}: database migrated", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    fd, settings_name, prepare_name = argv
    try:
        answer = prepared(settings_name, prepare_name, migrate_only=False)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with os.fdopen(int(fd), "w") as pipe:
        json.dump(answer, pipe)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
