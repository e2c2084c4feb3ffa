"""``make demo``: fill a running Estante with a small, real-looking catalog, through the Books API.

The books come from ``ops/demo_catalog.txt`` (some 400 real titles in six languages, with series
and subjects); what a catalog record has beyond that (ISBN, publisher, page count, copies) is
derived from each title, so every run sends exactly the same records. Running it again adds
nothing: the Books Service itself refuses a book with the title and authors of a live one (409),
and those are counted as already there.

Writing needs a librarian or an administrator. The command logs in as ``DEMO_USERNAME``
(``demo``) with ``DEMO_PASSWORD``, or else with the password kept in ``<data dir>/demo-password``;
when that account does not exist yet, it is created as an administrator with the Auth Service's
own command (``python -m auth_service.cli create-admin``), with a random password written to
that file (readable by its owner only). So after ``make demo`` you can log in to the web
interface as ``demo`` and see the administrators' pages too.

The services must be running (``make run``); ``AUTH_URL`` and ``BOOKS_URL`` say where, by
default http://127.0.0.1:5001 and http://127.0.0.1:5002.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from books_service.isbn import isbn13_check_digit
from common.config import PROJECT_ROOT, ServiceSettings

CATALOG_FILE = Path(__file__).with_name("demo_catalog.txt")
DEFAULT_USERNAME = "demo"
# Registration groups of each language's main ISBN agency, so the ISBNs hyphenate as real ones.
ISBN_GROUPS = {
    "pt": "97885",
    "en": "9780",
    "es": "97884",
    "fr": "9782",
    "de": "9783",
    "it": "97888",
}
PUBLISHERS = {
    "pt": ["Companhia das Letras", "Editora Record", "Ática", "Editora 34", "Porto Editora"],
    "en": ["Penguin Classics", "Oxford University Press", "Vintage", "HarperCollins"],
    "es": ["Alfaguara", "Cátedra", "Anagrama", "Debolsillo"],
    "fr": ["Gallimard", "Le Livre de Poche", "Flammarion", "Folio"],
    "de": ["Suhrkamp", "S. Fischer", "Reclam", "Diogenes"],
    "it": ["Einaudi", "Mondadori", "Feltrinelli", "Adelphi"],
}


class DemoError(Exception):
    """Something the person running ``make demo`` has to fix; the message says what."""


def isbn13(prefix: str, digits: str) -> str:
    """A valid ISBN-13: ``prefix``, then ``digits`` (zero-filled or cut to 12 digits in all),
    then the check digit."""
    body = (prefix + digits.zfill(12 - len(prefix)))[:12]
    return body + isbn13_check_digit(body)


def parse_catalog(text: str) -> list[dict[str, Any]]:
    """The books of the demo catalog file, as Books API records (see the file's header)."""
    books: list[dict[str, Any]] = []
    language = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            language = line[1:-1]
            continue
        fields = [field.strip() for field in line.split("|")]
        if language is None or len(fields) not in (4, 5):
            raise ValueError(f"{CATALOG_FILE.name}:{number}: not a book line: {raw!r}")
        title, authors, year, subjects = fields[:4]
        book: dict[str, Any] = {
            "title": title,
            "authors": [name.strip() for name in authors.split(";")],
            "published_year": int(year),
            "language": language,
            "subjects": [subject.strip() for subject in subjects.split(";")],
        }
        if len(fields) == 5:
            series, _, index = fields[4].rpartition("#")
            book["series"], book["series_index"] = series.strip(), float(index)
        books.append(book | derived_fields(book))
    return books


def derived_fields(book: dict[str, Any]) -> dict[str, Any]:
    """Publisher, ISBN (four books in five), page count and copies: the same for a title on
    every run, different between titles."""
    digest = hashlib.sha256(f"{book['title']}|{book['authors']}".encode()).hexdigest()
    number = int(digest, 16)
    language = book["language"]
    fields: dict[str, Any] = {
        "publisher": PUBLISHERS[language][number % len(PUBLISHERS[language])],
        "page_count": 96 + (number >> 8) % 800,
        "copies": 1 + (number >> 20) % 3,
    }
    if (number >> 30) % 5:
        fields["isbn"] = isbn13(ISBN_GROUPS[language], str(number)[-12:])
    return fields


@dataclass
class Demo:
    auth_url: str
    books_url: str
    username: str
    password_file: Path
    client: httpx.Client

    def password(self) -> tuple[str, bool]:
        """The demo account's password, and whether it was made just now."""
        if os.environ.get("DEMO_PASSWORD"):
            return os.environ["DEMO_PASSWORD"], False
        if self.password_file.exists():
            return self.password_file.read_text(encoding="utf-8").strip(), False
        return secrets.token_urlsafe(18), True

    def login(self, password: str) -> str | None:
        response = self._call("POST", f"{self.auth_url}/login", json=self._credentials(password))
        if response.status_code == 200:
            return str(response.json()["access_token"])
        if response.status_code == 401:
            return None
        raise DemoError(f"logging in as {self.username}: {describe(response)}")

    def _credentials(self, password: str) -> dict[str, str]:
        return {"username": self.username, "password": password}

    def token(self) -> str:
        password, new = self.password()
        token = self.login(password)
        if token is not None:
            return token
        if not new:
            raise DemoError(
                f"cannot log in as {self.username} with the password in DEMO_PASSWORD or "
                f"{self.password_file}; set DEMO_USERNAME/DEMO_PASSWORD to a librarian's account"
            )
        create_admin(self.username, password)
        self.password_file.parent.mkdir(parents=True, exist_ok=True)
        self.password_file.touch(mode=0o600)
        self.password_file.write_text(password + "\n", encoding="utf-8")
        print(f"created the administrator {self.username}; password in {self.password_file}")
        token = self.login(password)
        if token is None:
            raise DemoError(f"{self.username} was created but cannot log in")
        return token

    def add(self, books: list[dict[str, Any]]) -> tuple[int, int]:
        """Adds the books the catalog lacks: (how many added, how many were there already)."""
        token = self.token()
        added = present = 0
        for book in books:
            response = self._post_book(book, token)
            if response.status_code == 401:  # the access token expired on a long run
                token = self.token()
                response = self._post_book(book, token)
            if response.status_code == 201:
                added += 1
            elif response.status_code == 409:
                present += 1
            else:
                raise DemoError(f"adding {book['title']!r}: {describe(response)}")
        return added, present

    def _post_book(self, book: dict[str, Any], token: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return self._call("POST", f"{self.books_url}/books", json=book, headers=headers)

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.TransportError as error:
            raise DemoError(f"{url}: {error} (are the services running? make run)") from None


def describe(response: httpx.Response) -> str:
    try:
        problem = response.json()
        detail = problem.get("detail") or problem.get("title")
        errors = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in problem["errors"])
        return f"{response.status_code} {detail} {errors}".strip()
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"{response.status_code} {response.text[:200]}"


def create_admin(username: str, password: str) -> None:
    """The Auth Service's own command, on the database ``make run`` uses."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "auth_service.cli", "create-admin", "--username", username],
        env={**os.environ, "ESTANTE_ADMIN_PASSWORD": password},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DemoError(f"creating the administrator {username}: {result.stderr.strip()}")


def demo_books() -> list[dict[str, Any]]:
    return parse_catalog(CATALOG_FILE.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--auth-url", default=os.environ.get("AUTH_URL", "http://127.0.0.1:5001"))
    parser.add_argument("--books-url", default=os.environ.get("BOOKS_URL", "http://127.0.0.1:5002"))
    args = parser.parse_args(argv)
    books = demo_books()
    with httpx.Client(timeout=30) as client:
        demo = Demo(
            auth_url=args.auth_url.rstrip("/"),
            books_url=args.books_url.rstrip("/"),
            username=os.environ.get("DEMO_USERNAME", DEFAULT_USERNAME),
            password_file=ServiceSettings().data_dir / "demo-password",
            client=client,
        )
        try:
            added, present = demo.add(books)
        except DemoError as error:
            print(f"make demo: {error}", file=sys.stderr)
            return 1
    print(f"demo catalog: {added} books added, {present} were there already")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
