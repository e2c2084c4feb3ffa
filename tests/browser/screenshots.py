"""``make screenshots``: docs/screenshots/*.png, made again from the demo catalog.

    .venv/bin/python -m tests.browser.screenshots [--out docs/screenshots]

Starts its own stack (Auth, Books and Web on free ports, in a temporary directory), fills it
with ``make demo``, and photographs, in Debian's Chromium, as the demo administrator: the
catalog, a book page, an edit with an error, an edit conflict and the users page; each at
desktop (1280 px wide) and phone (390 px) size, in English and in Brazilian Portuguese. Each
picture is the viewport only, at one device pixel per CSS pixel, to keep the files small.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import requests
from playwright.sync_api import Page, sync_playwright

from common.config import PROJECT_ROOT
from tests.support.browser import chromium_path, launch_options
from tests.support.harness import Stack, build_stack

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
LANGUAGES = {"en": "en-US", "pt": "pt-BR"}
BOOK = "Dom Casmurro"


def book_id(stack: Stack, title: str) -> int:
    found = requests.get(f"{stack.books_url}/books", params={"q": title}, timeout=30).json()
    return int(next(book["id"] for book in found if book["title"] == title))


def log_in(page: Page, password: str) -> None:
    page.goto("/login")
    page.locator("#username").fill("demo")
    page.locator("#password").fill(password)
    page.locator("#login-button").click()
    page.locator("#logout-button").wait_for()


def shots(stack: Stack, password: str) -> dict[str, Callable[[Page], None]]:
    """What each picture shows, reached as a person would."""
    dom_casmurro = book_id(stack, BOOK)
    quixote = book_id(stack, "El ingenioso hidalgo don Quijote de la Mancha")
    admin = {"Authorization": f"Bearer {stack.login('demo', password)['access_token']}"}

    def catalog(page: Page) -> None:
        page.goto("/?q=machado")

    def book(page: Page) -> None:
        page.goto(f"/books/{dom_casmurro}")

    def edit_with_an_error(page: Page) -> None:
        page.goto(f"/books/{dom_casmurro}/edit")
        page.locator("#field-isbn").fill("978-85-359-0277-9")
        page.locator("#save-book").click()
        page.locator("#error-summary").wait_for()

    def conflict(page: Page) -> None:
        page.goto(f"/books/{quixote}/edit")
        # Meanwhile someone else changes the book (through the API, as any client may).
        current = requests.get(f"{stack.books_url}/books/{quixote}", timeout=30)
        changed = requests.patch(
            f"{stack.books_url}/books/{quixote}",
            json={"copies": current.json()["copies"] + 1, "publisher": "Real Academia Española"},
            headers={**admin, "If-Match": current.headers["ETag"]},
            timeout=30,
        )
        changed.raise_for_status()
        page.locator("#field-page_count").fill("1376")
        page.locator("#save-book").click()
        page.locator("#conflict").wait_for()

    def users(page: Page) -> None:
        page.goto("/admin/users")

    return {
        "catalog": catalog,
        "book": book,
        "edit-error": edit_with_an_error,
        "conflict": conflict,
        "users": users,
    }


TEAM = {"ana.souza": "librarian", "joao.pereira": "librarian", "clube.de.leitura": "reader"}


def add_team(stack: Stack, password: str) -> None:
    """A few people for the users page: librarians and a reader."""
    admin = {"Authorization": f"Bearer {stack.login('demo', password)['access_token']}"}
    for username, role in TEAM.items():
        user = stack.register(username)["user"]
        if role != user["roles"][0]:
            requests.patch(
                f"{stack.auth_url}/admin/users/{user['id']}",
                json={"role": role},
                headers=admin,
                timeout=30,
            ).raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    executable = chromium_path()
    if executable is None:
        print("make screenshots needs Chromium: apt-get install chromium", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="estante-screenshots-") as directory:
        stack = build_stack(Path(directory), "sqlite", with_web=True)
        stack.start()
        try:
            demo = stack.run_demo()
            if demo.returncode != 0:
                print(demo.stderr, file=sys.stderr)
                return 1
            password = (stack.data_dir / "demo-password").read_text().strip()
            add_team(stack, password)
            photograph(stack, password, args.out, executable)
        finally:
            stack.stop()
    return 0


def photograph(stack: Stack, password: str, out: Path, executable: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options(executable))
        try:
            for language, locale in LANGUAGES.items():
                for device, viewport in VIEWPORTS.items():
                    context = browser.new_context(
                        base_url=stack.web_url,
                        locale=locale,
                        viewport=viewport,  # type: ignore[arg-type]
                        device_scale_factor=1,
                        is_mobile=device == "phone",
                        has_touch=device == "phone",
                    )
                    page = context.new_page()
                    log_in(page, password)
                    for name, reach in shots(stack, password).items():
                        reach(page)
                        path = out / f"{name}-{language}-{device}.png"
                        page.screenshot(path=str(path), animations="disabled", caret="hide")
                        print(path.relative_to(PROJECT_ROOT), file=sys.stderr)
                    context.close()
        finally:
            browser.close()


if __name__ == "__main__":
    raise SystemExit(main())
