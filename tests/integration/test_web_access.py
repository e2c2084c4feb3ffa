"""Who may do what in the web interface: every route, every method, as anonymous, reader,
librarian and administrator, over real HTTP with a real cookie jar and a valid CSRF token.

The routes are read from the Flask app's own url_map: a new route without an expectation here
fails the test. Anonymous visitors of a members' page are sent to log in; a role short of the
page's gets 403 and nothing changes; the roles allowed get the page or, after a form, the
redirect that follows a success.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

import web_service
from tests.support.harness import People, Stack
from web_service.app import create_app
from web_service.config import WebSettings

ROLES = ("anonymous", "reader", "librarian", "admin")
CSRF = re.compile(r'"X-CSRF-Token": "([^"]+)"')
LOGIN = "login"  # a redirect to the login page, coming back here afterwards
OK, SEE_OTHER, FORBIDDEN = 200, 303, 403
STATIC = Path(web_service.__file__).parent / "static"
MISSING = 2**31 - 1  # an id nothing has


def everyone(status: int | str) -> dict[str, int | str]:
    return dict.fromkeys(ROLES, status)


def members(status: int | str) -> dict[str, int | str]:
    return {"anonymous": LOGIN, "reader": status, "librarian": status, "admin": status}


def writers(status: int | str) -> dict[str, int | str]:
    return {"anonymous": LOGIN, "reader": FORBIDDEN, "librarian": status, "admin": status}


def admins(status: int | str) -> dict[str, int | str]:
    return {"anonymous": LOGIN, "reader": FORBIDDEN, "librarian": FORBIDDEN, "admin": status}


# (endpoint, method) -> the answer each role gets.
EXPECTED: dict[tuple[str, str], dict[str, int | str]] = {
    ("catalog.index", "GET"): everyone(OK),
    ("books.show", "GET"): everyone(OK),
    ("static", "GET"): everyone(OK),
    ("healthz", "GET"): everyone(OK),
    ("readyz", "GET"): everyone(OK),
    ("metrics", "GET"): everyone(OK),  # the proxy hides it from outside (test_cluster)
    # Someone logged in already is sent on (to the page they came for, or the catalog).
    ("accounts.login", "GET"): {**members(302), "anonymous": OK},
    ("accounts.register", "GET"): {**members(302), "anonymous": OK},
    # A wrong password, a confirmation that differs: the form again, with the error.
    ("accounts.login", "POST"): everyone(401),
    ("accounts.register", "POST"): everyone(400),
    ("accounts.language", "POST"): everyone(SEE_OTHER),
    ("accounts.account", "GET"): members(OK),
    ("accounts.change_password", "POST"): members(401),  # the current password is wrong
    ("accounts.logout", "POST"): {**members(SEE_OTHER), "anonymous": SEE_OTHER},
    ("accounts.logout_everywhere", "POST"): members(SEE_OTHER),
    ("books.add", "GET"): writers(OK),
    ("books.add", "POST"): writers(SEE_OTHER),
    ("books.edit", "GET"): writers(OK),
    ("books.edit", "POST"): writers(SEE_OTHER),
    ("books.delete", "GET"): writers(OK),
    ("books.delete", "POST"): writers(SEE_OTHER),
    # Imports: the page, a form sent without a file, and a job that does not exist.
    ("imports.index", "GET"): writers(OK),
    ("imports.upload", "POST"): writers(400),
    ("imports.job", "GET"): writers(404),
    ("imports.status", "GET"): writers(404),
    ("imports.rejects", "GET"): writers(404),
    ("imports.cancel", "POST"): writers(404),
    ("admin.users", "GET"): admins(OK),
    ("admin.update_user", "POST"): admins(SEE_OTHER),
    ("admin.deleted", "GET"): admins(OK),
    ("admin.restore", "POST"): admins(SEE_OTHER),
    ("admin.purge", "GET"): admins(OK),
    ("admin.purge", "POST"): admins(SEE_OTHER),
}
# They end the session they are sent in (or all of the user's): each gets a browser of its own,
# and they run last.
SESSION_ENDING = {
    ("accounts.login", "POST"),
    ("accounts.logout", "POST"),
    ("accounts.logout_everywhere", "POST"),
}


def web_routes(data_dir: Path) -> dict[tuple[str, str], str]:
    """(endpoint, method) -> URL rule, from the app the service runs."""
    app = create_app(WebSettings(data_dir=data_dir, environment="test", log_level="WARNING"))
    routes = {}
    for rule in app.url_map.iter_rules():
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                routes[(rule.endpoint, method)] = rule.rule
    return routes


@dataclass
class Browser:
    """A cookie jar that logged in through the login form, and its CSRF token."""

    stack: Stack
    role: str
    credentials: tuple[str, str] | None
    http: requests.Session = field(default_factory=requests.Session)
    csrf: str = ""

    def __post_init__(self) -> None:
        page = self.get("/login")
        if self.credentials is not None:
            username, password = self.credentials
            response = self.post(
                "/login",
                {"username": username, "password": password, "next": "/"},
                csrf=token_of(page),
            )
            assert response.status_code == SEE_OTHER, response.text
            page = self.get("/account")
            assert page.status_code == OK
        self.csrf = token_of(page)

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.stack.web_url + path, allow_redirects=False, timeout=30)

    def post(self, path: str, form: dict[str, str], csrf: str | None = "") -> requests.Response:
        """A form sent with this browser's CSRF token, ``csrf`` instead, or none (None)."""
        token = {} if csrf is None else {"csrf_token": csrf or self.csrf}
        return self.http.post(
            self.stack.web_url + path,
            data={**form, **token},
            allow_redirects=False,
            timeout=30,
        )


def token_of(page: requests.Response) -> str:
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {page.url}"
    return found.group(1)


@dataclass
class Catalog:
    """Books and accounts the requests act on, made through the APIs; a fresh set per role, so
    that what one role changed is not what the next one finds."""

    stack: Stack
    people: People

    def __post_init__(self) -> None:
        username, password = self.people.librarian
        self.librarian = {
            "Authorization": f"Bearer {self.stack.login(username, password)['access_token']}"
        }
        username, password = self.people.admin
        self.admin = {
            "Authorization": f"Bearer {self.stack.login(username, password)['access_token']}"
        }

    def book(self) -> dict[str, Any]:
        response = requests.post(
            f"{self.stack.books_url}/books",
            json={"title": f"Access {uuid.uuid4().hex[:8]}", "author": "Role Tester"},
            headers=self.librarian,
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return {**response.json(), "etag": response.headers["ETag"]}

    def deleted_book(self) -> dict[str, Any]:
        book = self.book()
        response = requests.delete(
            f"{self.stack.books_url}/books/{book['id']}", headers=self.librarian, timeout=10
        )
        assert response.status_code == 204, response.text
        return book

    def user(self) -> tuple[int, str]:
        user = self.stack.register()["user"]
        return int(user["id"]), str(user["username"])

    def roles_of(self, username: str) -> list[str]:
        return list(self.stack.login(username)["user"]["roles"])

    def book_state(self, book_id: int) -> int:
        return requests.get(f"{self.stack.books_url}/books/{book_id}", timeout=10).status_code

    def deleted_state(self, book_id: int) -> int:
        return requests.get(
            f"{self.stack.books_url}/books/deleted/{book_id}", headers=self.admin, timeout=10
        ).status_code


@dataclass
class Case:
    path: str
    form: dict[str, str] = field(default_factory=dict)
    # What must hold when the request was refused (403 or sent to log in): nothing changed.
    unchanged: Callable[[], bool] = lambda: True


def cases(catalog: Catalog, routes: dict[tuple[str, str], str]) -> dict[tuple[str, str], Case]:
    """One request per route and method, on objects of its own."""
    shown = catalog.book()
    to_edit, to_delete = catalog.book(), catalog.book()
    to_restore, to_purge = catalog.deleted_book(), catalog.deleted_book()
    user_id, username = catalog.user()
    static = sorted(p.name for p in STATIC.glob("*.css"))[0]
    made = {
        ("catalog.index", "GET"): Case("/?q=access"),
        ("books.show", "GET"): Case(f"/books/{shown['id']}"),
        ("static", "GET"): Case(f"/static/{static}"),
        ("healthz", "GET"): Case("/healthz"),
        ("readyz", "GET"): Case("/readyz"),
        ("metrics", "GET"): Case("/metrics"),
        ("accounts.login", "GET"): Case("/login"),
        ("accounts.register", "GET"): Case("/register"),
        ("accounts.login", "POST"): Case(
            "/login", {"username": catalog.people.reader[0], "password": "not the password"}
        ),
        ("accounts.register", "POST"): Case(
            "/register",
            {
                "username": f"new_{uuid.uuid4().hex[:8]}",
                "password": "a good long password",
                "password_confirm": "another long password",
            },
        ),
        ("accounts.language", "POST"): Case("/language", {"locale": "pt_BR", "next": "/"}),
        ("accounts.account", "GET"): Case("/account"),
        ("accounts.change_password", "POST"): Case(
            "/account/password",
            {
                "current_password": "not the password",
                "new_password": "a brand new passphrase",
                "new_password_confirm": "a brand new passphrase",
            },
        ),
        ("accounts.logout", "POST"): Case("/logout"),
        ("accounts.logout_everywhere", "POST"): Case("/account/logout-all"),
        ("books.add", "GET"): Case("/books/new"),
        ("books.add", "POST"): Case(
            "/books/new", {"title": f"Added {uuid.uuid4().hex[:8]}", "authors": "Role Tester"}
        ),
        ("books.edit", "GET"): Case(f"/books/{to_edit['id']}/edit"),
        ("books.edit", "POST"): Case(
            f"/books/{to_edit['id']}/edit",
            {
                "title": f"Edited {uuid.uuid4().hex[:8]}",
                "authors": "Role Tester",
                "etag": to_edit["etag"],
            },
            unchanged=lambda: (
                requests.get(f"{catalog.stack.books_url}/books/{to_edit['id']}", timeout=10).json()[
                    "title"
                ]
                == to_edit["title"]
            ),
        ),
        ("books.delete", "GET"): Case(f"/books/{to_delete['id']}/delete"),
        ("books.delete", "POST"): Case(
            f"/books/{to_delete['id']}/delete",
            {"etag": to_delete["etag"]},
            unchanged=lambda: catalog.book_state(to_delete["id"]) == OK,
        ),
        ("imports.index", "GET"): Case("/imports"),
        ("imports.upload", "POST"): Case("/imports", {"format": "auto", "on_duplicate": "skip"}),
        ("imports.job", "GET"): Case(f"/imports/{MISSING}"),
        ("imports.status", "GET"): Case(f"/imports/{MISSING}/status"),
        ("imports.rejects", "GET"): Case(f"/imports/{MISSING}/rejects"),
        ("imports.cancel", "POST"): Case(f"/imports/{MISSING}/cancel"),
        ("admin.users", "GET"): Case("/admin/users"),
        ("admin.update_user", "POST"): Case(
            f"/admin/users/{user_id}",
            {"role": "reader"},
            unchanged=lambda: catalog.roles_of(username) == ["librarian"],
        ),
        ("admin.deleted", "GET"): Case("/admin/deleted"),
        ("admin.restore", "POST"): Case(
            f"/admin/deleted/{to_restore['id']}/restore",
            unchanged=lambda: catalog.book_state(to_restore["id"]) == 404,
        ),
        ("admin.purge", "GET"): Case(f"/admin/deleted/{to_purge['id']}/purge"),
        ("admin.purge", "POST"): Case(
            f"/admin/deleted/{to_purge['id']}/purge",
            unchanged=lambda: catalog.deleted_state(to_purge["id"]) == OK,
        ),
    }
    for key in made:
        assert key in routes, f"{key} is no route of the web service any more"
    return made


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], str]:
    return web_routes(tmp_path_factory.mktemp("url-map"))


def test_every_route_has_an_expectation_for_every_role(
    routes: dict[tuple[str, str], str],
) -> None:
    missing = sorted(set(routes) - set(EXPECTED))
    assert not missing, f"routes with no expectation here: {missing}"
    gone = sorted(set(EXPECTED) - set(routes))
    assert not gone, f"expectations for routes that no longer exist: {gone}"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_it_may_and_changes_nothing_else(
    role: str, web_stack: Stack, people: People, routes: dict[tuple[str, str], str]
) -> None:
    credentials = None if role == "anonymous" else getattr(people, role)
    catalog = Catalog(web_stack, people)
    requests_for_role = cases(catalog, routes)
    browser = Browser(web_stack, role, credentials)
    order = sorted(requests_for_role, key=lambda key: key in SESSION_ENDING)
    mismatches = []
    for key in order:
        method, case = key[1], requests_for_role[key]
        client = Browser(web_stack, role, credentials) if key in SESSION_ENDING else browser
        response = client.get(case.path) if method == "GET" else client.post(case.path, case.form)
        got, want = describe(response), expect(EXPECTED[key][role])
        if got != want:
            mismatches.append(f"{role} {method} {case.path}: got {got}, expected {want}")
    assert not mismatches, "\n".join(mismatches)
    for key in order:
        if expect(EXPECTED[key][role]) in (str(FORBIDDEN), LOGIN):
            assert requests_for_role[key].unchanged(), f"{role} {key}: refused, yet it changed"


def expect(status: int | str) -> str:
    return LOGIN if status == LOGIN else str(status)


def describe(response: requests.Response) -> str:
    """The answer in the table's terms: a status, or 'login' for a redirect to the login page
    that comes back to the page asked for."""
    location = response.headers.get("Location", "")
    if response.status_code in (302, 303) and location.startswith("/login?next="):
        return LOGIN
    return str(response.status_code)


def test_what_does_not_exist_is_404_for_those_allowed_to_look(
    web_stack: Stack, people: People
) -> None:
    admin = Browser(web_stack, "admin", people.admin)
    anonymous = Browser(web_stack, "anonymous", None)
    missing = MISSING
    for path in (
        f"/books/{missing}",
        f"/books/{missing}/edit",
        f"/books/{missing}/delete",
        f"/admin/deleted/{missing}/purge",
        "/no/such/page",
        "/static/no-such-file.css",
    ):
        assert admin.get(path).status_code == 404, path
    assert admin.post(f"/admin/deleted/{missing}/restore", {}).status_code == 404
    assert anonymous.get(f"/books/{missing}").status_code == 404
    assert anonymous.get("/no/such/page").status_code == 404
    # Members' pages send strangers to log in before anything is looked up.
    assert describe(anonymous.get(f"/books/{missing}/edit")) == LOGIN


@pytest.mark.parametrize("token", ["missing", "forged", "another browser's"])
def test_no_form_acts_without_this_browsers_csrf_token(
    token: str, web_stack: Stack, people: People, routes: dict[tuple[str, str], str]
) -> None:
    """Every POST route, as the administrator (who may do everything): 400, nothing changed,
    and the session still there."""
    catalog = Catalog(web_stack, people)
    requests_for_role = cases(catalog, routes)
    admin = Browser(web_stack, "admin", people.admin)
    sent = {
        "missing": None,
        "forged": admin.csrf[:-4] + ("AAAA" if not admin.csrf.endswith("AAAA") else "BBBB"),
        "another browser's": Browser(web_stack, "admin", people.admin).csrf,
    }[token]
    answers = []
    for (_endpoint, method), case in requests_for_role.items():
        if method != "POST":
            continue
        status = admin.post(case.path, case.form, csrf=sent).status_code
        if status != 400:
            answers.append(f"POST {case.path}: {status}")
        assert case.unchanged(), f"POST {case.path} with a {token} token changed something"
    assert not answers, f"with a {token} CSRF token:\n" + "\n".join(answers)
    assert admin.get("/account").status_code == OK  # neither logged out nor locale changed
    assert '<html lang="en">' in admin.get("/").text
