"""A librarian's whole journey in Debian's Chromium, as a person does it: the pages, the keyboard,
a second browser making a conflict, an administrator restoring what was deleted, the language
switch. axe checks every page visited. One slow scenario, run once."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from ops.demo import isbn13
from tests.support.accessibility import assert_accessible
from tests.support.harness import STRONG_PASSWORD, People, Stack

MAX_TABS = 40


def tab_to(page: Page, target: Locator) -> None:
    """Tab until ``target`` has the focus (it must be reachable by keyboard, in fewer than
    MAX_TABS steps), and check the focus is visible on it."""
    for _ in range(MAX_TABS):
        if target.evaluate("element => element === document.activeElement"):
            break
        page.keyboard.press("Tab")
    else:
        raise AssertionError(f"{target} was not reached with Tab")
    indicator = target.evaluate(
        """element => {
            const style = getComputedStyle(element);
            const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
            return outline || style.boxShadow !== 'none';
        }"""
    )
    assert indicator, f"{target} has the focus but shows no focus indicator"


def log_in_by_keyboard(page: Page, username: str, password: str) -> None:
    """The login page by keyboard alone: the skip link first, then the form in its order."""
    page.goto("/login")
    assert_accessible(page, "login page")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_label("Username"))
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def menu(page: Page, name: str) -> Locator:
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)


def log_out(page: Page, name: str = "Log out") -> None:
    page.get_by_role("button", name=name).click()
    expect(page.get_by_role("button", name=name)).to_have_count(0)


def second_browser(browser: Browser, base_url: str) -> BrowserContext:
    return browser.new_context(base_url=base_url, locale="en-US")


def test_a_librarian_catalogs_a_book_from_registration_to_logout(
    page: Page, browser: Browser, people: People, web_stack: Stack
) -> None:
    tag = uuid.uuid4().hex[:6]
    username = f"maria.{tag}"
    title = f"Os Órfãos da Várzea {tag}"
    isbn = isbn13("97885", str(uuid.uuid4().int)[-7:])
    wrong_isbn = isbn[:-1] + str((int(isbn[-1]) + 1) % 10)

    # The catalog, as a stranger sees it; then registration (librarian: the default role).
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Catalog")
    assert_accessible(page, "catalog")
    page.emulate_media(color_scheme="dark")
    assert_accessible(page, "catalog, dark theme")
    page.emulate_media(color_scheme="light")
    page.get_by_role("link", name="Register").click()
    assert_accessible(page, "registration")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_label("Password again").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("link", name=username)).to_be_visible()
    log_out(page)

    # Log in with the keyboard alone.
    log_in_by_keyboard(page, username, STRONG_PASSWORD)
    expect(page).to_have_url(re.compile(r"/(\?notice=logged_in)?$"))
    assert_accessible(page, "catalog, logged in")

    # A new book with a wrong ISBN: the error beside the field, nothing typed lost.
    menu(page, "Add a book").click()
    assert_accessible(page, "add a book")
    page.get_by_label("Title (required)").fill(title)
    page.get_by_label("Authors (required)").fill("Helena Quintão\nJoão Ribeiro")
    page.get_by_label("ISBN", exact=True).fill(wrong_isbn)
    page.get_by_label("Publisher", exact=True).fill("Editora Várzea")
    page.get_by_label("Pages", exact=True).fill("212")
    page.get_by_role("button", name="Add the book").click()
    isbn_field = page.get_by_label("ISBN", exact=True)
    expect(isbn_field).to_have_attribute("aria-invalid", "true")
    expect(isbn_field).to_have_accessible_description(re.compile("check digit"))
    expect(page.locator("#field-isbn-group .error")).to_contain_text("check digit")
    expect(page.get_by_role("alert")).to_contain_text("ISBN")
    expect(page.get_by_label("Title (required)")).to_have_value(title)
    expect(page.get_by_label("Authors (required)")).to_have_value("Helena Quintão\nJoão Ribeiro")
    assert_accessible(page, "add a book, with an error")
    isbn_field.fill(isbn)
    page.get_by_role("button", name="Add the book").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator("#isbn13")).to_have_text(re.compile(r"^978-85-\d+-\d+-\d$"))
    assert_accessible(page, "book page")

    # Found by a word typed without its accents, as it is typed (by keyboard alone): results
    # without a reload.
    menu(page, "Catalog").click()
    page.evaluate("window.stillTheSamePage = true")
    tab_to(page, page.get_by_role("searchbox", name="Search the catalog"))
    page.keyboard.type(f"orfaos {tag}", delay=20)
    result = page.get_by_role("link", name=title)
    expect(result).to_be_visible()
    expect(page.locator("#result-count")).to_have_text("1 book")
    expect(page).to_have_url(re.compile(rf"[?&]q=orfaos(\+|%20){tag}"))
    assert page.evaluate("window.stillTheSamePage") is True, "the page was reloaded"
    assert_accessible(page, "catalog, search results")
    tab_to(page, result)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)

    # Edited here; meanwhile another librarian changes the same book in their own browser.
    page.get_by_role("link", name="Edit", exact=True).click()
    assert_accessible(page, "edit a book")
    other = second_browser(browser, web_stack.web_url)
    try:
        theirs = other.new_page()
        log_in_by_keyboard(theirs, *people.librarian)
        theirs.goto(page.url)
        theirs.get_by_label("Publisher", exact=True).fill("Editora Nova Várzea")
        theirs.get_by_label("Pages", exact=True).fill("240")
        theirs.get_by_role("button", name="Save changes").click()
        expect(theirs.get_by_role("heading", level=1)).to_have_text(title)
    finally:
        other.close()
    page.get_by_label("Pages", exact=True).fill("230")
    page.get_by_role("button", name="Save changes").click()

    # The conflict: nothing saved, their version beside mine, field by field. Their publisher
    # (a field only they changed) is proposed; the pages, changed by both, are mine to choose.
    conflict = page.get_by_role("alert")
    expect(conflict).to_contain_text("Someone changed this book since you opened it")
    publisher = page.locator("#conflict-publisher")
    expect(publisher).to_contain_text("Editora Nova Várzea")
    expect(publisher.get_by_label("Keep their version:")).to_be_checked()
    pages = page.locator("#conflict-page_count")
    expect(pages).to_contain_text("240")
    expect(pages).to_contain_text("230")
    assert_accessible(page, "edit conflict")
    pages.get_by_label("Keep your version:").check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    fields = page.locator("#book-fields")
    expect(fields).to_contain_text("Editora Nova Várzea")
    expect(fields).to_contain_text("230")
    history = page.locator("#history")
    expect(history).to_contain_text("212")  # the timeline: 212, then their 240, then 230
    expect(history).to_contain_text("240")

    # Deleted, with a confirmation; gone from the catalog.
    book_url = page.url
    page.get_by_role("link", name="Delete", exact=True).click()
    assert_accessible(page, "delete confirmation")
    page.get_by_role("button", name="Delete the book").click()
    expect(page.locator("#notice")).to_contain_text("The book was deleted")
    response = page.goto(book_url)
    assert response is not None and response.status == 404
    assert_accessible(page, "not found page")
    log_out(page)

    # Restored by an administrator.
    log_in_by_keyboard(page, *people.admin)
    menu(page, "Deleted books").click()
    assert_accessible(page, "deleted books")
    page.get_by_role("button", name=f"Restore {title}").click()
    page.goto(book_url)
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    menu(page, "Users").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    expect(page.get_by_role("rowheader", name=people.librarian[0])).to_be_visible()
    assert_accessible(page, "users")

    # In Portuguese, remembered from page to page; then logged out.
    page.get_by_label("Interface language", exact=True).select_option("pt_BR")
    page.get_by_role("button", name="Change").click()
    expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    expect(page.get_by_role("heading", level=1)).to_have_text("Catálogo")
    assert_accessible(page, "catalog in Portuguese")
    log_out(page, "Sair")
    expect(page.get_by_role("link", name="Entrar")).to_be_visible()
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login\?next="))
