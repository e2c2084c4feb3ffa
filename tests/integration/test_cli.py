"""The estante command against the real services: each command runs as its own process
(``python -m estante_cli``), over HTTP, with its own home and config directory."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from common.config import PROJECT_ROOT
from tests.support.harness import STRONG_PASSWORD, Stack, start_stack

ADMIN = "cli.admin"
ADMIN_PASSWORD = "a long admin passphrase"


@pytest.fixture(scope="module", params=["sqlite"])
def cli_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One pair of services for the module: the command is an HTTP client, so one database
    backend is enough (the services' own tests cover both). A refresh token spent twice ends
    its session at once, without the usual grace for retries: a command that did that would
    be caught."""
    running = start_stack(
        request,
        tmp_path_factory.mktemp("cli"),
        {
            "ESTANTE_ADMIN_USERNAME": ADMIN,
            "ESTANTE_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "REFRESH_REUSE_GRACE_SECONDS": "0",
        },
    )
    yield running
    running.stop()


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class Person:
    """Someone with an account and a home of their own, running estante."""

    stack: Stack
    home: Path
    username: str
    password: str = STRONG_PASSWORD

    @property
    def credentials(self) -> Path:
        return self.home / ".config" / "estante" / "credentials.json"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(PROJECT_ROOT),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "ESTANTE_AUTH_URL": self.stack.auth_url,
            "ESTANTE_BOOKS_URL": self.stack.books_url,
            "COLUMNS": "200",
        }

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "estante_cli", *args],
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            cwd=self.home,
            env=self.env(),
            timeout=120,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """The command started as from a terminal, where Ctrl-C reaches it: with SIGINT's
        default disposition even when these tests run with it ignored (a shell script's
        ``pytest &`` ignores it, and a child inherits that)."""
        return subprocess.Popen(
            [sys.executable, "-m", "estante_cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.home,
            env=self.env(),
            preexec_fn=_interruptible,
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def login(self) -> Person:
        self.ok("login", "-u", self.username, "--password-stdin", stdin=self.password + "\n")
        return self

    def saved_session(self) -> dict[str, Any]:
        logins = json.loads(self.credentials.read_text())["logins"]
        return dict(logins[self.stack.auth_url])

    def expire_access_token(self) -> None:
        """As if the saved access token had expired: the next command must refresh."""
        expired = {**self.saved_session(), "access_expires_at": 0}
        self.credentials.write_text(
            json.dumps({"version": 1, "logins": {self.stack.auth_url: expired}})
        )


def fresh_isbn() -> str:
    """An ISBN-13 no other test uses (the catalog refuses a second live book with one)."""
    digits = "978" + str(uuid.uuid4().int)[:9]
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return digits + str(check)


def person(stack: Stack, tmp_path: Path, username: str | None = None, **kw: Any) -> Person:
    home = tmp_path / f"home-{uuid.uuid4().hex[:8]}"
    home.mkdir()
    if username is None:
        username = f"cli_{uuid.uuid4().hex[:10]}"
        stack.register(username)
    return Person(stack, home, username, **kw)


@pytest.fixture
def librarian(cli_stack: Stack, tmp_path: Path) -> Person:
    return person(cli_stack, tmp_path).login()


@pytest.fixture
def admin(cli_stack: Stack, tmp_path: Path) -> Person:
    return person(cli_stack, tmp_path, ADMIN, password=ADMIN_PASSWORD).login()


def test_login_from_standard_input_keeps_a_private_refresh_token_and_no_password(
    cli_stack: Stack, tmp_path: Path
) -> None:
    alice = person(cli_stack, tmp_path)
    result = alice.run(
        "login", "--username", alice.username, "--password-stdin", stdin=alice.password + "\n"
    )
    assert result.returncode == 0, result.stderr
    assert f"Logged in as {alice.username} (librarian)" in result.stdout
    assert stat.S_IMODE(alice.credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(alice.credentials.parent.stat().st_mode) == 0o700
    text = alice.credentials.read_text()
    assert alice.password not in text
    assert alice.saved_session()["refresh_token"]
    assert alice.json("whoami")["username"] == alice.username


def test_a_wrong_password_is_one_line_and_saves_nothing(cli_stack: Stack, tmp_path: Path) -> None:
    alice = person(cli_stack, tmp_path)
    result = alice.run("login", "-u", alice.username, "--password-stdin", stdin="wrong pass\n")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "(401)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not alice.credentials.exists()


def test_a_book_is_added_found_shown_edited_and_deleted(librarian: Person) -> None:
    title = f"Memórias Póstumas {uuid.uuid4().hex[:6]}"
    added = librarian.json(
        "books", "add", "--title", title, "--author", "Machado de Assis", "--year", "1881",
        "--subject", "Romance", "--subject", "Sátira", "--isbn", fresh_isbn(),
    )  # fmt: skip
    book_id = str(added["id"])
    assert added["authors"] == ["Machado de Assis"] and added["subjects"] == ["Romance", "Sátira"]

    found = librarian.json("books", "search", title)
    assert [b["id"] for b in found] == [added["id"]]
    table = librarian.ok("books", "search", "--author", "Machado de Assis", "--all")
    assert title in table

    shown = librarian.ok("books", "show", book_id)
    assert title in shown and f'"{book_id}-1"' in shown  # the ETag, for --if-match

    changed = librarian.json("books", "edit", book_id, "--copies", "3", "--clear", "subjects")
    assert changed["copies"] == 3 and changed["subjects"] == [] and changed["version"] == 2
    assert librarian.json("books", "show", book_id)["copies"] == 3

    assert "Deleted book" in librarian.ok("books", "delete", book_id, "--yes")
    gone = librarian.run("books", "show", book_id)
    assert gone.returncode == 1 and "(404)" in gone.stderr


def test_a_book_can_come_from_a_json_file_with_options_on_top(librarian: Person) -> None:
    source = librarian.home / "book.json"
    source.write_text(json.dumps({"title": "Quincas Borba", "author": "Machado", "copies": 5}))
    added = librarian.json(
        "books", "add", "--file", str(source), "--author", "Machado de Assis", "--allow-duplicate"
    )
    assert added["authors"] == ["Machado de Assis"] and added["copies"] == 5


def test_an_edit_of_a_book_changed_since_it_was_read_is_refused(librarian: Person) -> None:
    added = librarian.json("books", "add", "--title", "Helena", "--author", "Machado de Assis",
                           "--allow-duplicate")  # fmt: skip
    book_id = str(added["id"])
    read_etag = f'"{book_id}-1"'
    librarian.ok("books", "edit", book_id, "--copies", "2")  # someone else's change

    stale = librarian.run("books", "edit", book_id, "--copies", "7", "--if-match", read_etag)
    assert stale.returncode == 1
    assert "(412)" in stale.stderr and f"estante books show {book_id}" in stale.stderr
    assert librarian.json("books", "show", book_id)["copies"] == 2


def test_a_delete_asks_first_and_no_keeps_the_book(librarian: Person) -> None:
    added = librarian.json("books", "add", "--title", "Iaiá Garcia", "--author", "Machado",
                           "--allow-duplicate")  # fmt: skip
    answer = librarian.run("books", "delete", str(added["id"]), stdin="n\n")
    assert answer.returncode == 1 and "not deleted" in answer.stderr
    assert librarian.json("books", "show", str(added["id"]))["title"] == "Iaiá Garcia"


def test_invalid_fields_are_listed_on_one_line(librarian: Person) -> None:
    result = librarian.run("books", "add", "--title", " ", "--author", "A", "--isbn", "123",
                           "--language", "zz")  # fmt: skip
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "(422)" in line and "title" in line and "isbn" in line and "language" in line


def test_an_administrator_changes_a_role_and_a_reader_is_refused(
    admin: Person, cli_stack: Stack, tmp_path: Path
) -> None:
    bob = person(cli_stack, tmp_path)
    listed = admin.json("users", "list")
    assert bob.username in [u["username"] for u in listed]

    changed = admin.json("users", "role", bob.username, "reader")
    assert changed["roles"] == ["reader"]
    assert admin.json("users", "show", str(changed["id"]))["roles"] == ["reader"]

    bob.login()
    refused = bob.run("users", "list")
    assert refused.returncode == 1
    assert "(403)" in refused.stderr and "admin role" in refused.stderr
    no_write = bob.run("books", "add", "--title", "T", "--author", "A")
    assert no_write.returncode == 1 and "(403)" in no_write.stderr


def test_a_disabled_user_is_logged_out_everywhere(
    admin: Person, cli_stack: Stack, tmp_path: Path
) -> None:
    carol = person(cli_stack, tmp_path).login()
    assert admin.json("users", "disable", carol.username)["disabled"] is True
    carol.expire_access_token()  # the next command must ask the Auth Service
    result = carol.run("whoami")
    assert result.returncode == 4 and "estante login" in result.stderr
    assert admin.json("users", "enable", carol.username)["disabled"] is False


def test_an_expired_access_token_is_renewed_and_the_new_refresh_token_kept(
    librarian: Person, cli_stack: Stack
) -> None:
    before = librarian.saved_session()
    librarian.expire_access_token()
    assert librarian.json("whoami")["username"] == librarian.username
    after = librarian.saved_session()
    assert after["refresh_token"] != before["refresh_token"]
    assert after["access_expires_at"] > 0
    assert stat.S_IMODE(librarian.credentials.stat().st_mode) == 0o600


def test_commands_running_at_once_share_one_refresh(librarian: Person) -> None:
    """Refresh tokens rotate: two commands spending the same one would leave a retired token
    in the file (or the session revoked). They take turns, and the session survives."""
    librarian.expire_access_token()
    running = [librarian.start("whoami", "--json") for _ in range(4)]
    for process in running:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert json.loads(out)["username"] == librarian.username
    librarian.expire_access_token()
    assert librarian.json("whoami")["username"] == librarian.username


def test_logout_ends_the_session_and_deletes_the_file(librarian: Person, cli_stack: Stack) -> None:
    refresh_token = librarian.saved_session()["refresh_token"]
    assert "Logged out" in librarian.ok("logout")
    assert not librarian.credentials.exists()
    refused = requests.post(
        f"{cli_stack.auth_url}/token/refresh", json={"refresh_token": refresh_token}, timeout=10
    )
    assert refused.status_code == 401
    after = librarian.run("books", "add", "--title", "T", "--author", "A")
    assert after.returncode == 4 and "not logged in" in after.stderr


# Import and export -----------------------------------------------------------------------------

GOODREADS_HEADER = (
    "Book Id,Title,Author,Author l-f,Additional Authors,ISBN,ISBN13,My Rating,Average Rating,"
    "Publisher,Binding,Number of Pages,Year Published,Original Publication Year,Date Read,"
    "Date Added,Bookshelves,Bookshelves with positions,Exclusive Shelf,My Review,Spoiler,"
    "Private Notes,Read Count,Owned Copies"
)


@pytest.fixture
def import_api(cli_stack: Stack) -> None:
    """The import/export endpoints, if this tree's Books Service has them yet."""
    paths = requests.get(f"{cli_stack.books_url}/openapi.json", timeout=10).json()["paths"]
    if "/imports" not in paths:
        pytest.skip("this tree's Books Service has no import API (POST /imports) yet")


def goodreads_file(directory: Path, author: str, titles: list[str]) -> Path:
    """A Goodreads export of one book per title (an empty title is a row to reject), with the
    export's quirks: formula-wrapped ISBNs, an empty one, a series in the title, a/b/c dates."""
    rows = [GOODREADS_HEADER]
    for number, title in enumerate(titles, start=1):
        book_id = uuid.uuid4().int % 10**9
        isbn = f'"=""{fresh_isbn()}"""' if number == 1 else '"="""""'
        rows.append(
            f'{book_id},"{title}",{author},"{author}",,"=""""",{isbn},4,4.1,Ace,Paperback,300,'
            f"1990,1965,2020/10/25,2020/01/01,,,read,,,,1,1"
        )
    path = directory / "goodreads_library_export.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.usefixtures("import_api")
def test_a_goodreads_import_with_a_bad_row_fails_and_its_rejects_import_once_fixed(
    librarian: Person,
) -> None:
    author = f"Author {uuid.uuid4().hex[:8]}"
    source = goodreads_file(librarian.home, author, ["Dune (Dune, #1)", "Emma", ""])

    result = librarian.run("import", str(source))
    assert result.returncode == 1, result.stderr
    assert "succeeded" in result.stdout
    assert re.search(r"created\s+2\b", result.stdout)
    assert re.search(r"rejected\s+1\b", result.stdout)
    rejects = librarian.home / "goodreads_library_export.rejects.csv"
    assert f"Rejected rows: {rejects}" in result.stdout
    header, bad_row = rejects.read_text(encoding="utf-8").splitlines()[:2]
    assert header.startswith(GOODREADS_HEADER) and header.endswith("reason")
    assert author in bad_row

    fixed = rejects.read_text(encoding="utf-8").replace(f",,{author},", f",Persuasion,{author},")
    assert fixed != rejects.read_text(encoding="utf-8")
    rejects.write_text(fixed, encoding="utf-8")
    again = librarian.run("import", str(rejects))
    assert again.returncode == 0, (again.stdout, again.stderr)
    assert re.search(r"created\s+1\b", again.stdout)

    imported = librarian.json("books", "search", "--author", author)
    assert {book["title"] for book in imported} == {"Dune", "Emma", "Persuasion"}
    dune = next(book for book in imported if book["title"] == "Dune")
    history = librarian.ok("books", "show", str(dune["id"]), "--history")
    assert f"({source.name}, row 1)" in history and "created by import" in history
    job = librarian.json("imports", "list")[0]
    assert job["filename"] == rejects.name and job["state"] == "succeeded"
    assert librarian.json("imports", "show", str(job["id"]))["created"] == 1


@pytest.mark.usefixtures("import_api")
def test_a_dry_run_shows_what_would_happen_and_writes_nothing(librarian: Person) -> None:
    author = f"Author {uuid.uuid4().hex[:8]}"
    source = goodreads_file(librarian.home, author, ["Mansfield Park", "Sanditon"])

    result = librarian.run("import", str(source), "--dry-run")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Dry run" in result.stdout and "Nothing was written" in result.stdout
    assert re.search(r"would be created\s+2\b", result.stdout)
    assert "Mansfield Park" in result.stdout  # the preview of the first rows
    assert librarian.json("books", "search", "--author", author) == []


@pytest.mark.usefixtures("import_api")
def test_an_export_goes_to_a_file_or_to_standard_output(librarian: Person) -> None:
    author = f"Author {uuid.uuid4().hex[:8]}"
    for title in ("Ubik", "Valis"):
        librarian.ok("books", "add", "--title", title, "--author", author)

    target = librarian.home / "catalog.jsonl"
    result = librarian.run("export", "--author", author, "--sort", "title", "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert f"as estante-jsonl to {target}" in result.stdout
    exported = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [book["title"] for book in exported] == ["Ubik", "Valis"]
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(".part")] == []

    piped = librarian.run("export", "--author", author, "--format", "estante-csv")
    assert piped.returncode == 0, piped.stderr
    lines = piped.stdout.splitlines()
    assert lines[0].startswith("id,title") and len(lines) == 3  # only the CSV on stdout
    assert "Exported" in piped.stderr


@pytest.mark.usefixtures("import_api")
def test_ctrl_c_during_an_import_cancels_it_at_the_service(librarian: Person) -> None:
    author = f"Author {uuid.uuid4().hex[:8]}"
    source = goodreads_file(librarian.home, author, [f"Volume {n}" for n in range(100_000)])
    headers = {"Authorization": f"Bearer {librarian.saved_session()['access_token']}"}

    def jobs() -> list[dict[str, Any]]:
        answer = requests.get(f"{librarian.stack.books_url}/imports", headers=headers, timeout=10)
        return [job for job in answer.json() if job["filename"] == source.name]

    def started(job: dict[str, Any]) -> bool:
        return job["id"] not in before and job["state"] == "running" and job["rows_done"] > 0

    before = {job["id"] for job in jobs()}
    running = librarian.start("import", str(source))
    deadline = time.monotonic() + 60
    while not any(started(job) for job in jobs()):  # the upload is over: the command follows
        assert running.poll() is None and time.monotonic() < deadline, running.communicate()
        time.sleep(0.1)
    time.sleep(0.3)
    # How the command held SIGINT when it was sent (blocked, ignored, caught), for a failure's
    # record: a command that inherited SIGINT ignored never noticed it and finished the import
    # (why start() gives it the default disposition).
    status = Path(f"/proc/{running.pid}/status")
    lines = status.read_text().splitlines() if status.exists() else []
    signals = [line for line in lines if line.startswith("Sig")]
    running.send_signal(signal.SIGINT)
    out, err = running.communicate(timeout=60)

    assert running.returncode == 130, (out, err, signals)
    assert "asking the Books Service to cancel import" in err
    [job] = [job for job in jobs() if job["id"] not in before]
    assert job["state"] == "cancelled" and job["rows_done"] < 100_000
    assert "cancelled" in out


@pytest.mark.usefixtures("import_api")
def test_any_csv_imports_with_a_mapping_and_a_wrong_one_changes_nothing(
    librarian: Person,
) -> None:
    author = f"Autora {uuid.uuid4().hex[:8]}"
    source = librarian.home / "loja.csv"
    source.write_text(f"Titulo;Autoria;Paginas\nA Hora da Estrela;{author};87\n", encoding="utf-8")

    wrong = librarian.run(
        "import", str(source), "--format", "csv", "--mapping", "Titulo=title,Nada=author"
    )
    assert wrong.returncode == 1
    [line] = wrong.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Nada" in line
    assert librarian.json("books", "search", "--author", author) == []

    mapping = librarian.home / "mapping.json"
    columns = {"Titulo": "title", "Autoria": "author", "Paginas": "page_count"}
    mapping.write_text(json.dumps(columns))
    result = librarian.run("import", str(source), "--format", "csv", "--mapping", str(mapping))
    assert result.returncode == 0, (result.stdout, result.stderr)
    [book] = librarian.json("books", "search", "--author", author)
    assert book["title"] == "A Hora da Estrela" and book["page_count"] == 87
