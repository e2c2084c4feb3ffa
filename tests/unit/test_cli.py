"""The estante command without a server: arguments, messages, the credentials file, mappings,
paging and summaries. Anything that needs the services is in tests/integration/test_cli.py."""

from __future__ import annotations

import ast
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from estante_cli import files, imports, paging
from estante_cli.client import Service
from estante_cli.credentials import CredentialStore, Login
from estante_cli.errors import CliError, problem_line
from estante_cli.export import BY_SUFFIX, ExportFormat
from estante_cli.launcher import write_launcher
from estante_cli.main import app
from estante_cli.mapping import parse_mapping
from estante_cli.progress import CountingReader

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("ESTANTE_AUTH_URL", "ESTANTE_BOOKS_URL", "ESTANTE_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return config / "estante"


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def login_record(**changes: Any) -> Login:
    values: dict[str, Any] = {
        "username": "alice",
        "roles": ["librarian"],
        "refresh_token": "refresh-1",
        "access_token": "access-1",
        "access_expires_at": time.time() + 900,
        "refresh_expires_at": time.time() + 86400,
    }
    return Login(**{**values, **changes})


def all_command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in getattr(group, "commands", {}).items():
        paths += all_command_paths(command, (*prefix, name))
    return paths


# Help ------------------------------------------------------------------------------------------


def test_every_command_has_help_with_examples() -> None:
    root = typer.main.get_command(app)
    paths = all_command_paths(root)
    assert ("books", "edit") in paths and ("import",) in paths and ("users", "role") in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
        assert "Examples" in result.output, path


def test_the_version_is_printed() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("estante ")


# Usage errors (exit status 2) ------------------------------------------------------------------


def test_a_service_url_must_be_http() -> None:
    result = runner.invoke(app, ["--books-url", "ftp://example.org", "books", "search"])
    assert result.exit_code == 2
    assert "is not an http:// or https:// URL" in result.output


def test_password_stdin_needs_a_username() -> None:
    result = runner.invoke(app, ["login", "--password-stdin"], input="secret\n")
    assert result.exit_code == 2
    assert "--username" in result.output


def test_an_edit_must_change_something() -> None:
    result = runner.invoke(app, ["books", "edit", "3"])
    assert result.exit_code == 2
    assert "nothing to change" in result.output


def test_an_import_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2


def test_an_unknown_import_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "books.csv").write_text("Title,Author\n")
    result = runner.invoke(app, ["import", str(tmp_path / "books.csv"), "--format", "excel"])
    assert result.exit_code == 2
    assert "goodreads" in result.output


def test_an_unknown_role_is_refused() -> None:
    result = runner.invoke(app, ["users", "role", "alice", "emperor"])
    assert result.exit_code == 2


# Errors without a server: one line, an exit status, no traceback ------------------------------


def test_a_refused_connection_names_the_service_and_its_url() -> None:
    url = closed_port_url()
    result = runner.invoke(app, ["--books-url", url, "books", "search"])
    assert result.exit_code == 3
    assert result.output.strip() == f"error: the Books Service at {url} is not reachable"


def test_the_url_can_come_from_the_environment() -> None:
    url = closed_port_url()
    result = runner.invoke(app, ["books", "show", "1"], env={"ESTANTE_BOOKS_URL": url})
    assert result.exit_code == 3
    assert f"the Books Service at {url} is not reachable" in result.output


def test_writing_without_logging_in_says_to_log_in() -> None:
    result = runner.invoke(
        app,
        ["--auth-url", closed_port_url(), "books", "add", "--title", "T", "--author", "A"],
    )
    assert result.exit_code == 4
    assert "not logged in" in result.output and "estante login" in result.output


def test_a_book_file_must_hold_a_json_object(tmp_path: Path) -> None:
    (tmp_path / "book.json").write_text("[1, 2]")
    result = runner.invoke(app, ["books", "add", "--file", str(tmp_path / "book.json")])
    assert result.exit_code == 1
    assert "must hold one JSON object" in result.output
    assert "Traceback" not in result.output


def test_a_problem_is_one_line_with_the_field_errors_the_detail_does_not_name() -> None:
    body = {
        "title": "Invalid request",
        "detail": "The request has invalid fields:\n title: must not be empty",
        "errors": [
            {"field": "title", "message": "must not be empty"},
            {"field": "isbn", "message": "not a valid ISBN"},
        ],
    }
    line = problem_line(422, body, "Books Service")
    assert line == (
        "Invalid request (422): The request has invalid fields: title: must not be empty "
        "[isbn: not a valid ISBN]"
    )
    assert "\n" not in line


def test_an_answer_without_a_problem_body_still_says_who_answered_what() -> None:
    assert problem_line(502, {}, "Books Service") == "the Books Service answered 502"


# The credentials file --------------------------------------------------------------------------


def test_the_credentials_file_is_private_and_holds_no_password(isolated_config: Path) -> None:
    store = CredentialStore(isolated_config)
    saved_login = login_record()
    with store.locked():
        store.put("http://auth.example/", saved_login)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(isolated_config.stat().st_mode) == 0o700
    saved = json.loads(store.path.read_text())
    assert saved["logins"]["http://auth.example"]["refresh_token"] == "refresh-1"
    assert "password" not in store.path.read_text()
    assert store.get("http://auth.example") == saved_login
    assert [p.name for p in isolated_config.iterdir() if p.name.endswith(".tmp")] == []


def test_forgetting_the_last_session_deletes_the_file(isolated_config: Path) -> None:
    store = CredentialStore(isolated_config)
    with store.locked():
        store.put("http://a.example", login_record())
        store.put("http://b.example", login_record(username="bob"))
        assert store.remove("http://a.example")
        assert store.path.exists()
        assert store.get("http://b.example") is not None
        assert store.remove("http://b.example")
        assert not store.remove("http://b.example")
    assert not store.path.exists()


def test_a_damaged_credentials_file_is_reported_not_a_traceback(isolated_config: Path) -> None:
    isolated_config.mkdir(parents=True)
    (isolated_config / "credentials.json").write_text("{not json")
    with pytest.raises(CliError, match="delete it and log in again"):
        CredentialStore(isolated_config).get("http://auth.example")
    result = runner.invoke(app, ["logout"])
    assert result.exit_code == 1 and "delete it and log in again" in result.output


def test_an_access_token_close_to_its_expiry_is_not_used() -> None:
    assert login_record().access_token_usable()
    assert not login_record(access_expires_at=time.time() + 10).access_token_usable()


# Mappings --------------------------------------------------------------------------------------


def test_a_mapping_is_pairs_or_json_inline_or_in_a_file(tmp_path: Path) -> None:
    expected = {"Titulo": "title", "Autor=es": "author"}
    assert parse_mapping("Titulo=title, Autor=es=author") == expected
    assert parse_mapping(json.dumps(expected)) == expected
    (tmp_path / "map.txt").write_text("Titulo=title\nAutor=es=author\n")
    assert parse_mapping(str(tmp_path / "map.txt")) == expected
    (tmp_path / "map.json").write_text("\ufeff" + json.dumps(expected))
    assert parse_mapping(str(tmp_path / "map.json")) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Titulo=title,Titulo=subtitle", "mapped twice"),
        ("Titulo", "no file"),
        ("=title", "empty"),
        ('{"Titulo": 3}', "of strings"),
        ("{broken", "not valid JSON"),
        ("{}", "no column=field pairs"),
    ],
)
def test_a_bad_mapping_says_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(CliError, match=message):
        parse_mapping(value)


# Paging ----------------------------------------------------------------------------------------


def page(body: Any, url: str, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers, request=httpx.Request("GET", url))


def test_link_header_pages_are_followed_until_the_limit() -> None:
    base = "http://books.example"
    served = {
        "/books": page(
            [{"id": 1}, {"id": 2}],
            f"{base}/books?limit=2",
            Link='</books?limit=2&cursor=abc>; rel="next"',
            **{"X-Total-Count": "5"},
        ),
        f"{base}/books?limit=2&cursor=abc": page(
            [{"id": 3}, {"id": 4}],
            f"{base}/books?limit=2&cursor=abc",
            Link='</books?limit=2&cursor=def>; rel="next"',
            **{"X-Total-Count": "5"},
        ),
    }
    asked: list[tuple[str, dict[str, Any]]] = []

    def fetch(url: str, params: dict[str, Any]) -> httpx.Response:
        asked.append((url, params))
        return served[url]

    listing = paging.read(fetch, "/books", {"q": "x"}, limit=3, page_size=500)
    assert [b["id"] for b in listing.items] == [1, 2, 3] and listing.total == 5
    assert asked == [("/books", {"q": "x", "limit": 3}), (f"{base}/books?limit=2&cursor=abc", {})]


def test_next_links_are_sent_with_their_cursor_and_a_loop_is_refused() -> None:
    """Through the real HTTP client (on an in-memory transport): a next link's query must
    reach the service as it is (httpx drops a URL's query when given params)."""
    books = [{"id": n} for n in range(1, 8)]
    seen: list[str] = []

    def serve(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        start = int(request.url.params.get("cursor", "0"))
        size = int(request.url.params["limit"])
        headers = {"X-Total-Count": "7"}
        if start + size < len(books):
            headers["Link"] = f'</books?limit={size}&cursor={start + size}>; rel="next"'
        return httpx.Response(200, json=books[start : start + size], headers=headers)

    service = Service("Books Service", "http://books.example", httpx.Client(
        transport=httpx.MockTransport(serve)))  # fmt: skip
    listing = paging.read(
        lambda url, params: service.request("GET", url, params=params),
        "/books",
        {"q": "x"},
        limit=None,
        page_size=3,
    )
    assert listing.items == books
    assert seen == [
        "http://books.example/books?q=x&limit=3",
        "http://books.example/books?limit=3&cursor=3",
        "http://books.example/books?limit=3&cursor=6",
    ]

    def same_page_again(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"id": 1}], headers={"Link": '</books>; rel="next"'})

    stuck = Service("Books Service", "http://books.example", httpx.Client(
        transport=httpx.MockTransport(same_page_again)))  # fmt: skip
    with pytest.raises(CliError, match="already read"):
        paging.read(
            lambda url, params: stuck.request("GET", url, params=params),
            "/books",
            {},
            limit=None,
            page_size=3,
        )


def test_numbered_pages_are_read_until_the_total_at_the_services_page_size() -> None:
    users = [{"id": n} for n in range(1, 6)]
    asked: list[dict[str, Any]] = []

    def fetch(url: str, params: dict[str, Any]) -> httpx.Response:
        asked.append(params)
        number = params.get("page", 1)
        items = users[(number - 1) * 2 : number * 2]  # the service's default: 2 a page
        body = {"items": items, "page": number, "per_page": 2, "total": 5}
        return page(body, "http://auth.example/admin/users")

    listing = paging.read(fetch, "/admin/users", {}, limit=None, page_size=200, size_param=None)
    assert listing.items == users and listing.total == 5
    assert asked == [{}, {"page": 2}, {"page": 3}]


# Import summaries and file names ---------------------------------------------------------------


def test_a_dry_run_summary_shows_the_counts_and_the_preview(
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = {
        "id": 7,
        "state": "succeeded",
        "dry_run": True,
        "format": "goodreads",
        "encoding": "utf-8",
        "filename": "goodreads.csv",
        "rows_total": 3,
        "rows_done": 3,
        "created": 2,
        "updated": 0,
        "skipped": 0,
        "rejected": 1,
        "started_at": "2026-12-02T17:00:00Z",
        "finished_at": "2026-12-02T17:00:02Z",
        "preview": [
            {"row": 1, "action": "create", "book": {"title": "Dune", "author": "F. Herbert"}},
            {"row": 3, "action": "reject", "book": None, "reason": "isbn: not a valid ISBN"},
        ],
    }
    imports._summary(job, Path("goodreads.rejects.csv"))
    shown = capsys.readouterr().out
    assert "Dry run 7 of goodreads.csv (goodreads, utf-8): succeeded in 2.0 s" in shown
    assert "would be created" in shown and "Nothing was written" in shown
    assert "Dune" in shown and "isbn: not a valid ISBN" in shown
    assert "goodreads.rejects.csv" in shown


def test_a_running_import_shows_its_rate_and_what_is_left(
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = {"id": 8, "state": "running", "rows_total": 1000, "rows_done": 400, "rate": 1234.5}
    job |= {"eta_seconds": 75, "created": 400, "updated": 0, "skipped": 0, "rejected": 0}
    imports._summary(job, None)
    shown = capsys.readouterr().out
    assert "Import 8: running" in shown and "400/1000" in shown
    assert "1,234 rows/s, about 1:15 left" in shown
    assert "slower" not in shown


def test_a_running_import_that_left_the_listing_indexes_out_says_which_lists_are_slower(
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = {"id": 9, "state": "running", "rows_total": 10**6, "rows_done": 4000, "rate": 12000}
    job |= {"created": 4000, "updated": 0, "skipped": 0, "rejected": 0, "indexes_deferred": True}
    imports._summary(job, None)
    assert "lists sorted by title, author or publisher" in capsys.readouterr().out


def test_rejects_are_written_beside_the_file_with_its_extension() -> None:
    assert imports._rejects_path(Path("/data/library.tsv")) == Path("/data/library.rejects.tsv")


def test_the_export_format_follows_the_file_extension() -> None:
    assert BY_SUFFIX[".jsonl"] is ExportFormat.estante_jsonl
    assert BY_SUFFIX[".mrc"] is ExportFormat.marc


# The launcher that make install writes ---------------------------------------------------------


def test_the_launcher_runs_the_command_from_any_directory(tmp_path: Path) -> None:
    launcher = tmp_path / "bin dir" / "estante"
    launcher.parent.mkdir()
    write_launcher(launcher, Path(sys.executable), Path(__file__).resolve().parents[2])
    assert os.access(launcher, os.X_OK)
    result = subprocess.run(
        [str(launcher), "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("estante ")


def test_docs_cli_shows_every_command() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    for path in all_command_paths(typer.main.get_command(app))[1:]:
        assert "estante " + " ".join(path) in docs, path


def test_the_command_imports_no_code_of_the_services() -> None:
    """It talks to them over HTTP only: it must run where only it is installed."""
    package = Path(__file__).resolve().parents[2] / "estante_cli"
    imported = {
        (path.name, (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name)
        for path in package.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    ours = {"auth_service", "books_service", "web_service", "common", "ops", "tests"}
    offending = [(name, module) for name, module in imported if module.split(".")[0] in ours]
    assert offending == []


def test_an_upload_streams_the_file_with_its_length_and_counts_its_bytes(tmp_path: Path) -> None:
    source = tmp_path / "books.csv"
    source.write_bytes(b"Title,Author\n" + b"A Book,An Author\n" * 20_000)
    received: dict[str, Any] = {}

    def serve(request: httpx.Request) -> httpx.Response:
        received["length"] = int(request.headers["Content-Length"])
        received["body"] = request.read()
        return httpx.Response(202, json={"id": 1})

    counted: list[int] = []
    client = httpx.Client(transport=httpx.MockTransport(serve))
    with source.open("rb") as handle:
        reader = CountingReader(handle, counted.append)
        client.post("http://books.example/imports", files={"file": ("books.csv", reader)})
    assert sum(counted) == source.stat().st_size
    assert received["length"] == len(received["body"]) > source.stat().st_size
    assert source.read_bytes() in received["body"]


def test_an_export_into_a_missing_directory_is_one_clear_error(tmp_path: Path) -> None:
    response = httpx.Response(200, content=b"id,title\n")
    with pytest.raises(CliError, match="there is no directory"):
        files.save(response, tmp_path / "nowhere" / "catalog.csv", "exporting")
