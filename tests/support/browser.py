"""Debian's Chromium as the browser tests and ``make screenshots`` launch it.

Playwright's own browser download cannot work on our machines, so the browser is always the
system's: ``ESTANTE_CHROMIUM`` or ``/usr/bin/chromium``.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

CHROMIUM = os.environ.get("ESTANTE_CHROMIUM", "/usr/bin/chromium")
# Without the networking switches Chromium's background connections (updates, sync, Google's
# hosts) fail on a closed network, many at a time; there is no sandbox for root in a container.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
]


def chromium_path() -> str | None:
    return shutil.which(CHROMIUM)


def launch_options(executable: str) -> dict[str, Any]:
    return {"executable_path": executable, "headless": True, "args": CHROMIUM_ARGS}
