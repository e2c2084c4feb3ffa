"""Browser tests: Debian's Chromium driven by pytest-playwright against the real stack.

One browser for the whole session (pytest-playwright's session-scoped ``browser``, launched with
the options below) and a fresh context per test (its ``context``/``page``/``new_context``). One
stack (Auth + Books + Web over HTTP, SQLite) serves every browser test.

Without Chromium the tests skip with the reason; with ``ESTANTE_REQUIRE_BROWSER=1`` (CI) they
fail instead. Playwright's own browser download cannot work on our machines, so the browser is
always the system's: ``ESTANTE_CHROMIUM`` or ``/usr/bin/chromium``.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from tests.browser.accessibility import AXE_SCRIPT
from tests.support.harness import Stack

CHROMIUM = os.environ.get("ESTANTE_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("ESTANTE_REQUIRE_BROWSER") == "1"
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


def missing(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"ESTANTE_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str:
    found = shutil.which(CHROMIUM)
    if found is None:
        missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    assert found is not None
    return found


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """Overrides pytest-playwright's: every launch is the system's Chromium, headless."""
    if not AXE_SCRIPT.exists():
        missing(f"{AXE_SCRIPT} is missing (npm ci installs axe-core)")
    return {"executable_path": chromium_path(), "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any], web_stack: Stack) -> dict[str, Any]:
    """Every context opens the web service by relative URL, in English unless a test says."""
    return {**browser_context_args, "base_url": web_stack.web_url, "locale": "en-US"}
