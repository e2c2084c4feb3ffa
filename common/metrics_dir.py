"""The directory where a service's workers add up their metrics (prometheus_client's
multiprocess mode), emptied at each start by the service's preparation, which imports neither
Flask nor prometheus_client."""

from __future__ import annotations

import os
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(directory: Path) -> None:
    """Called by the parent process before workers start: the directory, emptied of the
    previous run's metric files (only those: it may be a directory shared with other files),
    announced to the workers."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in directory.glob("*.db"):
        if stale.name.split("_", 1)[0] in {"counter", "gauge", "histogram", "summary"}:
            stale.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
