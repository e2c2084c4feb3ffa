"""Imports and exports over real HTTP, on SQLite and PostgreSQL: jobs that import the formats
people have, dry runs that write nothing, idempotence, rejects files that import again, bad
files refused with nothing changed, cancellation, a job killed half-way that resumes, two
replicas sharing one job, and who may do what."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import text

from common.db import create_db_engine
from tests.support.clients import bearer
from tests.support.harness import Stack, all_books, start_stack
from tests.support.tokens import good_claims, sign_with_service_key

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
MAX_BYTES = 3 * 1024 * 1024
GOODREADS_COLUMNS = (FIXTURES / "goodreads_library_export.csv").read_text().splitlines()[0]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def imports_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    running = start_stack(
        request,
        tmp_path_factory.mktemp(f"imports-{request.param}"),
        {"BOOKS_IMPORT_MAX_BYTES": str(MAX_BYTES), "BOOKS_IMPORT_POLL_SECONDS": "0.2"},
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def librarian(imports_stack: Stack) -> dict[str, str]:
    return bearer(imports_stack.token())


def upload(
    stack: Stack, headers: dict[str, str], data: bytes, filename: str, **form: str
) -> requests.Response:
    return requests.post(
        f"{stack.books_url}/imports",
        headers=headers,
        files={"file": (filename, io.BytesIO(data))},
        data=form,
        timeout=60,
    )


def finished(stack: Stack, headers: dict[str, str], location: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(f"{stack.books_url}{location}", headers=headers, timeout=10).json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"{location} still {job['state']} after {timeout} s: {job}")


def run_import(
    stack: Stack, headers: dict[str, str], data: bytes, filename: str, **form: str
) -> dict[str, Any]:
    response = upload(stack, headers, data, filename, **form)
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/imports/{response.json()['id']}"
    return finished(stack, headers, response.headers["Location"])


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def count_books(stack: Stack) -> int:
    return int(
        requests.get(f"{stack.books_url}/books?limit=1", timeout=10).headers["X-Total-Count"]
    )


def unique_goodreads(tag: str, rows: int = 3) -> bytes:
    """A small Goodreads file of books no other test adds."""
    lines = [GOODREADS_COLUMNS]
    for n in range(rows):
        lines.append(
            f'{tag}{n},"Book {tag} {n} (Saga {tag}, #{n + 1})",Author {tag},"{tag}, A",,'
            f'"=""""","=""""",0,4,Pub {tag},,{100 + n},2001,2001,,2020/10/25,,,read,,,,0,1'
        )
    return ("\n".join(lines) + "\n").encode()


def test_a_goodreads_export_is_imported_searchable_and_in_the_history(
    imports_stack: Stack, librarian: dict[str, str]
) -> None:
    job = run_import(imports_stack, librarian, fixture("goodreads_library_export.csv"), "gr.csv")
    assert job["state"] == "succeeded", job
    assert (job["format"], job["encoding"], job["dry_run"]) == ("goodreads", "utf-8", False)
    assert (job["rows_total"], job["rows_done"], job["created"], job["rejected"]) == (4, 4, 3, 1)
    assert [p["action"] for p in job["preview"]] == ["create", "create", "create", "reject"]
    assert "isbn" in job["preview"][3]["reason"]
    found = requests.get(f"{imports_stack.books_url}/books?q=dune chronicles", timeout=10).json()
    dune = next(b for b in found if b["isbn"] == "9780441172719")
    assert (dune["title"], dune["series"], dune["series_index"]) == ("Dune", "Dune Chronicles", 1)
    history = requests.get(f"{imports_stack.books_url}/books/{dune['id']}/history", timeout=10)
    entry = history.json()[0]
    assert entry["action"] == "created" and entry["changed_by"]
    assert entry["origin"] == {"import": job["id"], "file": "gr.csv", "row": 1}
    listed = requests.get(
        f"{imports_stack.books_url}/imports?limit=1", headers=librarian, timeout=10
    )
    assert listed.status_code == 200 and int(listed.headers["X-Total-Count"]) >= 1
    assert listed.json()[0]["id"] >= job["id"]  # newest first
    assert 'rel="next"' in listed.headers["Link"] or int(listed.headers["X-Total-Count"]) == 1


def test_a_dry_run_classifies_every_row_and_writes_nothing(
    imports_stack: Stack, librarian: dict[str, str]
) -> None:
    before = count_books(imports_stack)
    data = unique_goodreads("dry") + b'x1,,Nobody,,,"=""""","=""""",0,4,,,,,,,,,,read,,,,0,1\n'
    job = run_import(imports_stack, librarian, data, "dry.csv", dry_run="true")
    assert job["state"] == "succeeded" and job["dry_run"] is True
    assert (job["created"], job["rejected"]) == (3, 1)
    assert job["preview"][0]["book"]["title"] == "Book dry 0"
    assert count_books(imports_stack) == before
    rejects = requests.get(
        f"{imports_stack.books_url}/imports/{job['id']}/rejects", headers=librarian, timeout=10
    )
    assert rejects.status_code == 200 and "title" in rejects.text.splitlines()[1]


def test_importing_the_same_file_twice_adds_nothing_and_update_changes(
    imports_stack: Stack, librarian: dict[str, str]
) -> None:
    data = unique_goodreads("twice")
    first = run_import(imports_stack, librarian, data, "twice.csv")
    assert first["created"] == 3
    before = count_books(imports_stack)
    again = run_import(imports_stack, librarian, data, "twice.csv")
    assert (again["created"], again["skipped"]) == (0, 3)
    assert "already in the catalog" in again["preview"][0]["reason"]
    changed = data.replace(b"Pub twice", b"Other Publisher")
    updated = run_import(imports_stack, librarian, changed, "twice.csv", on_duplicate="update")
    assert (updated["created"], updated["updated"]) == (0, 3)
    added = run_import(imports_stack, librarian, data, "twice.csv", on_duplicate="add")
    assert added["created"] == 3  # no ISBN: "add anyway" adds
    assert count_books(imports_stack) == before + 3
    books = requests.get(f"{imports_stack.books_url}/books?q=twice&limit=50", timeout=10).json()
    assert sorted(b["publisher"] for b in books) == ["Other Publisher"] * 3 + ["Pub twice"] * 3


def test_the_rejects_file_imports_again_as_it_is(
    imports_stack: Stack, librarian: dict[str, str]
) -> None:
    for name in ("estante_books.jsonl", "library_records.xml", "library_records.mrc"):
        job = run_import(imports_stack, librarian, fixture(name), name)
        assert job["rejected"] == 1, job
        rejects = requests.get(
            f"{imports_stack.books_url}/imports/{job['id']}/rejects", headers=librarian, timeout=10
        )
        assert rejects.status_code == 200
        assert "attachment" in rejects.headers["Content-Disposition"]
        again = run_import(imports_stack, librarian, rejects.content, f"fixed-{name}")
        assert again["format"] == job["format"]
        assert (again["rows_total"], again["rejected"], again["created"]) == (1, 1, 0)
    fixed = fixture("estante_books.jsonl").replace(b'"title": ""', b'"title": "Now titled"')
    job = run_import(imports_stack, librarian, fixed, "fixed.jsonl")
    assert job["created"] >= 1 and job["rejected"] == 0
    none = requests.get(
        f"{imports_stack.books_url}/imports/{job['id']}/rejects", headers=librarian, timeout=10
    )
    assert none.status_code == 404


@pytest.mark.parametrize(
    ("data", "form", "status", "words"),
    [
        (b"", {}, 422, "empty"),
        (bytes(range(256)) * 64, {}, 422, "binary"),
        (fixture("goodreads_library_export.csv"), {"format": "marcxml"}, 422, "MARCXML"),
        (fixture("goodreads_library_export.csv"), {"format": "calibre"}, 422, "calibre"),
        ("Título,Autor\nÉ,Ó\n".encode("cp1252"), {"encoding": "utf-8"}, 422, "utf-8"),
        ((",".join(f"c{i}" for i in range(10_000)) + "\n").encode(), {}, 422, "columns"),
        (b'title,author\n"' + b"x" * (1024 * 1024) + b'",y\n', {}, 422, "larger than"),
        (b"x" * (MAX_BYTES + 1), {}, 413, "bytes"),
        (fixture("goodreads_library_export.csv"), {"format": "docx"}, 422, "format"),
        (fixture("goodreads_library_export.csv"), {"on_duplicate": "merge"}, 422, "on_duplicate"),
        (fixture("goodreads_library_export.csv"), {"dry_run": "perhaps"}, 422, "dry_run"),
        (fixture("spreadsheet.csv"), {"format": "csv", "mapping": "[1]"}, 422, "mapping"),
    ],
)
def test_bad_files_get_a_clear_4xx_and_change_nothing(
    imports_stack: Stack,
    librarian: dict[str, str],
    data: bytes,
    form: dict[str, str],
    status: int,
    words: str,
) -> None:
    jobs_before = requests.get(f"{imports_stack.books_url}/imports", headers=librarian, timeout=10)
    books_before = count_books(imports_stack)
    response = upload(imports_stack, librarian, data, "bad.csv", **form)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert words in response.json()["detail"]
    jobs_after = requests.get(f"{imports_stack.books_url}/imports", headers=librarian, timeout=10)
    assert jobs_after.headers["X-Total-Count"] == jobs_before.headers["X-Total-Count"]
    assert count_books(imports_stack) == books_before


def test_a_request_without_a_file_is_a_422(imports_stack: Stack, librarian: dict[str, str]) -> None:
    response = requests.post(
        f"{imports_stack.books_url}/imports", headers=librarian, data={"format": "csv"}, timeout=10
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "file"


def test_librarians_import_readers_may_not_and_anyone_exports(
    imports_stack: Stack, librarian: dict[str, str]
) -> None:
    url = imports_stack.books_url
    reader = bearer(sign_with_service_key(imports_stack, good_claims(roles=["reader"])))
    data = fixture("storygraph_export.csv")
    for headers, status in (({}, 401), (reader, 403)):
        assert upload(imports_stack, headers, data, "sg.csv").status_code == status
        assert requests.get(f"{url}/imports", headers=headers, timeout=10).status_code == status
        assert requests.get(f"{url}/imports/1", headers=headers, timeout=10).status_code == status
        cancel = requests.post(f"{url}/imports/1/cancel", headers=headers, timeout=10)
        assert cancel.status_code == status
    assert requests.get(f"{url}/imports/999999", headers=librarian, timeout=10).status_code == 404
    export = requests.get(f"{url}/books/export?format=estante-jsonl", timeout=30)
    assert export.status_code == 200
    assert export.headers["Content-Disposition"].startswith('attachment; filename="estante-')
    assert requests.get(f"{url}/books/export?format=docx", timeout=10).status_code == 422


def test_export_takes_the_filters_of_the_listing_and_neutralises_formulas(
    imports_stack: Stack, librarian: dict[str, str]
) -> None:
    tag = "formulas"
    rows = [
        {"id": 1, "title": '=HYPERLINK("http://evil")', "author": f"Author {tag}"},
        {"id": 2, "title": "+cmd|' /C calc'!A0", "author": f"Author {tag}", "subjects": ["@risk"]},
        {"id": 3, "title": "Plain", "author": "Someone Else Entirely"},
    ]
    data = "\n".join(json.dumps(r) for r in rows).encode()
    job = run_import(imports_stack, librarian, data, "f.jsonl", on_duplicate="add")
    assert job["created"] == 3
    export = requests.get(
        f"{imports_stack.books_url}/books/export",
        params={"format": "estante-csv", "author": f"author {tag}", "sort": "title"},
        timeout=30,
    )
    lines = export.text.splitlines()
    assert len(lines) == 3  # the header and the two books by that author
    assert "'=HYPERLINK" in export.text and "'+cmd" in export.text and "'@risk" in export.text
    again = run_import(imports_stack, librarian, export.content, "f.csv", dry_run="true")
    titles = {p["book"]["title"] for p in again["preview"]}
    assert titles == {rows[0]["title"], rows[1]["title"]}  # the import undoes the quote


def test_calibre_librarything_storygraph_and_a_mapped_spreadsheet(
    imports_stack: Stack, librarian: dict[str, str]
) -> None:
    expected = {
        "calibre_catalog.csv": ("calibre", 2),
        "librarything_export.tsv": ("librarything", 2),
        "storygraph_export.csv": ("storygraph", 2),
        "goodreads_old_export.csv": ("goodreads", 2),
        "estante_books.json": ("estante-json", 2),
    }
    for name, (fmt, valid) in expected.items():
        job = run_import(imports_stack, librarian, fixture(name), name)
        assert job["format"] == fmt and job["state"] == "succeeded", job
        assert job["created"] + job["skipped"] == valid, job
    mapping = {"Titel": "title", "Verfasser": "author", "Jahr": "published_year"}
    job = run_import(
        imports_stack,
        librarian,
        fixture("spreadsheet.csv"),
        "s.csv",
        format="csv",
        mapping=json.dumps(mapping),
    )
    assert (job["format"], job["created"] + job["skipped"], job["rejected"]) == ("csv", 1, 2)
    rejects = requests.get(
        f"{imports_stack.books_url}/imports/{job['id']}/rejects", headers=librarian, timeout=10
    )
    assert rejects.text.splitlines()[0] == "Titel,Verfasser,Jahr,Schlagworte,Nummer,reason"


# --- Jobs that stop: cancelled, killed, taken over -------------------------------------------

SLOW = {
    "BOOKS_IMPORT_BATCH_ROWS": "50",
    "BOOKS_IMPORT_PAUSE_SECONDS": "0.15",
    "BOOKS_IMPORT_LEASE_SECONDS": "2",
    "BOOKS_IMPORT_POLL_SECONDS": "0.2",
}


@pytest.fixture(params=["sqlite", "postgres"])
def slow_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """Small batches with a pause between them: a job lasts long enough to stop it half-way."""
    running = start_stack(request, tmp_path, SLOW)
    yield running
    running.stop()


def wait_for(stack: Stack, headers: dict[str, str], location: str, rows: int) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = requests.get(f"{stack.books_url}{location}", headers=headers, timeout=10).json()
        if job["rows_done"] >= rows:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{location} never reached {rows} rows")


def test_a_job_killed_half_way_resumes_and_a_cancelled_one_keeps_its_batches(
    slow_stack: Stack,
) -> None:
    headers = bearer(slow_stack.token())
    data = unique_goodreads("killed", rows=600)
    response = upload(slow_stack, headers, data, "big.csv")
    location = response.headers["Location"]
    job = wait_for(slow_stack, headers, location, 150)
    assert job["state"] == "running" and job["rate"] and job["eta_seconds"] is not None
    slow_stack.books.kill()  # SIGKILL, workers and all, in the middle of a batch
    slow_stack.books.start()
    job = finished(slow_stack, headers, location)
    assert (job["state"], job["rows_done"], job["created"], job["rejected"]) == (
        "succeeded", 600, 600, 0,
    )  # fmt: skip
    books = all_books(slow_stack.books_url)
    assert len(books) == 600 and len({b["title"] for b in books}) == 600

    response = upload(slow_stack, headers, unique_goodreads("cancelled", rows=600), "c.csv")
    location = response.headers["Location"]
    wait_for(slow_stack, headers, location, 100)
    cancel = requests.post(f"{slow_stack.books_url}{location}/cancel", headers=headers, timeout=10)
    assert cancel.status_code == 202 and cancel.json()["state"] == "cancelled"
    time.sleep(1)  # the worker notices at its next batch, and rolls that batch back
    job = requests.get(f"{slow_stack.books_url}{location}", headers=headers, timeout=10).json()
    assert job["state"] == "cancelled" and 0 < job["created"] < 600
    assert len(all_books(slow_stack.books_url)) == 600 + job["created"]
    again = requests.post(f"{slow_stack.books_url}{location}/cancel", headers=headers, timeout=10)
    assert again.status_code == 409


def test_two_replicas_on_postgres_run_a_job_once_and_one_takes_over_when_the_other_dies(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    request.param = "postgres"  # type: ignore[attr-defined]
    stack = start_stack(request, tmp_path, SLOW)
    replica = type(stack.books)(
        "books_service", dict(stack.books.env), log_path=tmp_path / "run" / "books-2.log"
    )
    try:
        replica.start()
        headers = bearer(stack.token())
        response = upload(stack, headers, unique_goodreads("replicas", rows=500), "r.csv")
        location = response.headers["Location"]
        wait_for(stack, headers, location, 100)
        engine = create_db_engine(stack.database_url("books"))
        with engine.connect() as connection:
            holder = connection.execute(text("SELECT claimed_by FROM import_jobs")).scalar_one()
        pid = int(holder.split(":")[1])
        owner = next(s for s in (stack.books, replica) if _in_group(pid, s))
        owner.kill()
        other = replica if owner is stack.books else stack.books
        job = finished(
            Stack(auth=stack.auth, books=other, data_dir=stack.data_dir, backend="postgres"),
            headers,
            location,
        )
        assert (job["state"], job["created"], job["rows_done"]) == ("succeeded", 500, 500)
        with engine.connect() as connection:
            entries = connection.execute(
                text("SELECT COUNT(*), COUNT(DISTINCT book_id) FROM book_history")
            ).one()
            holder_now = connection.execute(text("SELECT claimed_by FROM import_jobs")).scalar_one()
        engine.dispose()
        assert tuple(entries) == (500, 500)  # every book once, never twice
        assert holder_now != holder
        assert len(all_books(other.url)) == 500
    finally:
        for service in (replica, stack.books):
            if service.process is not None and service.process.poll() is None:
                service.stop()
        stack.auth.stop()


def _in_group(pid: int, service: Any) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[4] == str(service.process.pid)
    except OSError:
        return False
