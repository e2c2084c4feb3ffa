"""Browser tests: Debian's Chromium driven by pytest-playwright against the real stack.

One browser for the whole session (pytest-playwright's session-scoped ``browser``, launched with
the options below) and a fresh context per test (its ``context``/``page``/``new_context``). One
stack (Auth + Books + Web over HTTP, SQLite) serves every browser test.

Without Chromium the tests skip with the reason; with ``ESTANTE_REQUIRE_BROWSER=1`` (CI) they
fail instead. The browser is the system's (tests/support/browser.py).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.support.accessibility import AXE_SCRIPT
from tests.support.browser import CHROMIUM, chromium_path, launch_options
from tests.support.harness import Stack

REQUIRE_BROWSER = os.environ.get("ESTANTE_REQUIRE_BROWSER") == "1"


def missing(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"ESTANTE_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def chromium() -> str:
    found = chromium_path()
    if found is None:
        missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    assert found is not None
    return found


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """Overrides pytest-playwright's: every launch is the system's Chromium, headless."""
    if not AXE_SCRIPT.exists():
        missing(f"{AXE_SCRIPT} is missing (npm ci installs axe-core)")
    return launch_options(chromium())


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any], web_stack: Stack) -> dict[str, Any]:
    """Every context opens the web service by relative URL, in English unless a test says."""
    return {**browser_context_args, "base_url": web_stack.web_url, "locale": "en-US"}
