"""A preparation that takes its time, for the tests of a stop while a service starts: it says
which process it runs in (in ``SLOW_START_FILE``), then waits."""

from __future__ import annotations

import os
import time
from pathlib import Path

from common.config import ServiceSettings


def prepare(settings: ServiceSettings) -> None:
    Path(os.environ["SLOW_START_FILE"]).write_text(str(os.getpid()))
    time.sleep(60)
