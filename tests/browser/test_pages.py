"""The pages the journey does not pass through, checked by axe too: my account, the import page,
the 403 page, and the catalog on a 360 px wide phone (nothing wider than the screen)."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.support.accessibility import assert_accessible
from tests.support.harness import People, Stack


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_a_readers_pages_and_the_refusal_are_accessible(page: Page, people: People) -> None:
    log_in(page, *people.reader)
    page.goto("/account")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(page, "my account")
    response = page.goto("/books/new")
    assert response is not None and response.status == 403
    assert_accessible(page, "403 page")


def test_the_import_page_is_accessible(page: Page, people: People) -> None:
    log_in(page, *people.librarian)
    page.goto("/imports")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(page, "imports")


def test_the_catalog_fits_a_360_pixel_phone(browser: Browser, web_stack: Stack) -> None:
    context = browser.new_context(
        base_url=web_stack.web_url, viewport={"width": 360, "height": 740}, is_mobile=True
    )
    try:
        phone = context.new_page()
        phone.goto("/")
        expect(phone.get_by_role("searchbox", name="Search the catalog")).to_be_visible()
        overflow = phone.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 360, f"the page is {overflow} px wide on a 360 px screen"
        assert_accessible(phone, "catalog at 360 px")
    finally:
        context.close()
