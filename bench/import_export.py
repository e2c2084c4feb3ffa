"""Import and export at scale: ``make bench-import`` generates Goodreads-style CSV files (100k
and 1M rows by default), imports each into SQLite and PostgreSQL through the real Books Service
over HTTP (started as in production: Granian, 2 workers), polls the job's progress, and reports
rows per second end to end (upload to the last batch committed) and the peak RSS of the service's
processes; then exports the catalog in every format and reports rows per second.

    .venv/bin/python -m bench.import_export [--sizes 100000,1000000] [--backends sqlite,postgres]
                                            [--timeout 900] [--out FILE] [--no-export]
                                            [--rss-log FILE] [--db-prefix import_bench_]

Every generated row is a valid, distinct book (70 % with an ISBN-13 wrapped as Goodreads writes
it, the rest without), so every row is validated, written, indexed for search and recorded in
the history. Memory is the resident set of the service's processes (Granian's main process, its
workers and the child an import job forks to read and check its rows), sampled every 0.2 s while
the job runs; their CPU includes that child's: the largest of any one process (idle, before
the import, and at its peak) and of all of them together, by RSS and by PSS (a page they
share counted once: what they use together); each export's too. On PostgreSQL
also the CPU of the database's backends the service is connected to (from ``/proc``: the server
must run on this machine), per row.

The imported catalog is then checked (the bench exits with a failure otherwise): it holds every
row (``X-Total-Count``, and the JSON Lines export's lines), the first, middle and last rows are
found by a search of their title and by their ISBN, and each one's history names the import,
the file and the row it came from.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import requests
from psycopg import sql

from bench.seed import vocabulary
from books_service.isbn import isbn13_check_digit
from tests.support.harness import Stack, build_stack

POSTGRES_ADMIN = os.environ.get(
    "ESTANTE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
GOODREADS_COLUMNS = [
    "Book Id", "Title", "Author", "Author l-f", "Additional Authors", "ISBN", "ISBN13",
    "My Rating", "Average Rating", "Publisher", "Binding", "Number of Pages", "Year Published",
    "Original Publication Year", "Date Read", "Date Added", "Bookshelves",
    "Bookshelves with positions", "Exclusive Shelf", "My Review", "Spoiler", "Private Notes",
    "Read Count", "Owned Copies",
]  # fmt: skip
EXPORT_FORMATS = ("estante-csv", "estante-json", "estante-jsonl", "calibre", "marc", "marcxml")


def generate(path: Path, rows: int, seed: int = 7, first: int = 1) -> dict[int, Sample]:
    """A Goodreads library export of ``rows`` distinct, valid books; returns what the first,
    middle and last rows should become, for the check of the imported catalog. ``first``: the
    number of the first book (its ``Book Id``, ISBN and title), for a file of other books than
    an earlier one's."""
    samples: dict[int, Sample] = {}
    wanted = {1, rows // 2 + 1, rows}
    offset = first - 1
    rng = random.Random(seed)
    words = vocabulary()
    first = ["Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Inês", "João", "Marta", "Rui"]
    last = [w.capitalize() for w in words[200:1200]]
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(GOODREADS_COLUMNS)
        for row in range(1, rows + 1):
            n = row + offset
            title = " ".join(rng.choices(words[:2000], k=rng.randint(2, 5))).capitalize()
            title = f"{title} {n}"  # distinct titles: every row is a new book
            author = f"{rng.choice(first)} {rng.choice(last)}"
            additional = f"{rng.choice(first)} {rng.choice(last)}" if rng.random() < 0.1 else ""
            if n % 10 < 7:
                body = f"978{n:09d}"
                isbn13 = f'="{body}{isbn13_check_digit(body)}"'
                isbn10 = '=""'
            else:
                isbn13 = isbn10 = '=""'
            series = (
                f" ({rng.choice(words[:300]).capitalize()}, #{rng.randint(1, 9)})"
                if rng.random() < 0.2
                else ""
            )
            year = rng.randint(1900, 2025)
            if row in wanted:
                samples[row] = Sample(row, title, isbn13[2:-1] or None)
            writer.writerow(
                [
                    n, title + series, author, author, additional, isbn10, isbn13,
                    rng.randint(0, 5), "3.9", f"Editora {rng.choice(last)}", "Paperback",
                    rng.randint(48, 900), year, year, "2020/10/25", "2020/10/01",
                    "to-read" if n % 3 else "favorites, to-read", "", "to-read", "", "", "", 0,
                    1,
                ]
            )  # fmt: skip
    return samples


@dataclass(frozen=True)
class Sample:
    """A generated row as the catalog should hold it: its number in the file (as the history's
    origin names it), its title (the series taken out) and its ISBN-13, if it has one."""

    row: int
    title: str
    isbn: str | None


def service_pids(pid: int) -> list[int]:
    """A process and its descendants: Granian's workers, and the child a worker's import job
    forks to read and check the rows (``transfer/pipeline.py``)."""
    pids, at = [pid], 0
    while at < len(pids):
        # Each thread's children: the import job's thread forks the preparing process.
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pids[at]}/task"):
                with contextlib.suppress(OSError):
                    children = Path(f"/proc/{pids[at]}/task/{task}/children").read_text()
                    pids += [int(c) for c in children.split()]
        at += 1
    return pids


def rss_by_process(pid: int) -> dict[int, int]:
    """Resident memory (bytes) of a process and of its descendants."""
    found = {}
    for p in service_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    found[p] = int(line.split()[1]) * 1024
        except OSError:
            pass
    return found


def pss_total(pid: int) -> int:
    """Proportional memory (bytes) of a process and its descendants together: each page shared
    by several processes (the libraries' code, what a forked worker still shares with its
    parent) counted once in all, where the sum of their RSS counts it in each."""
    total = 0
    for p in service_pids(pid):
        with contextlib.suppress(OSError, StopIteration):
            lines = Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()
            total += next(int(line.split()[1]) for line in lines if line.startswith("Pss:")) * 1024
    return total


def cpu_seconds(pid: int) -> float:
    """User and system CPU time so far of a process and of its descendants, with that of
    their children that have ended (an import's preparing process, once the job is done)."""
    ticks = 0
    for p in service_pids(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def disk_writes(pid: int) -> int:
    """Bytes a process and its descendants have sent to the disk so far (``write_bytes`` of
    ``/proc/<pid>/io``: what their writes dirtied in the page cache, which the kernel counts
    by the cached folio, so a 4 KiB page written into a file read in larger pieces counts
    more). SQLite's WAL and checkpoints are the service's own; PostgreSQL's are its server's."""
    total = 0
    for p in service_pids(pid):
        with contextlib.suppress(OSError, StopIteration):
            lines = Path(f"/proc/{p}/io").read_text().splitlines()
            total += next(int(line.split()[1]) for line in lines if line.startswith("write_bytes"))
    return total


def backend_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to ``database`` (same machine).
    A backend that ends between two readings is missed: the service keeps its pool's."""
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        pids = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
            ).fetchall()
        ]
    found = {}
    for p in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            found[p] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


class RssSampler:
    """Every 0.2 s: the resident memory of each of the service's processes, with the import's
    phase at that moment (``phase``, set by whoever drives the import: upload, queued, count,
    rows): the largest of any one process, of all of them together (by RSS, and by PSS: what
    they use together, a shared page counted once), and each process's own peak and the phase it
    was reached in (to tell the upload's process from the job's). With ``log``,
    every sample is written there as a line: seconds, phase, rows done, pid=MiB ..."""

    def __init__(self, pid: int, log: Path | None = None) -> None:
        self.pid, self.peak, self.peak_total, self._stop = pid, 0, 0, threading.Event()
        self.peak_pss = 0
        self.baseline = rss_by_process(pid)
        self.phase, self.rows_done = "idle", 0
        self.by_process: dict[int, tuple[int, str, int]] = {}  # pid -> (peak, phase, rows)
        self._log = log.open("w") if log else None
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            sizes = rss_by_process(self.pid)
            self.peak = max(self.peak, *sizes.values(), 0)
            self.peak_total = max(self.peak_total, sum(sizes.values()))
            self.peak_pss = max(self.peak_pss, pss_total(self.pid))
            phase, rows = self.phase, self.rows_done
            for p, size in sizes.items():
                if size > self.by_process.get(p, (0, "", 0))[0]:
                    self.by_process[p] = (size, phase, rows)
            if self._log:
                each = " ".join(f"{p}={size / 2**20:.0f}" for p, size in sorted(sizes.items()))
                elapsed = time.perf_counter() - self._started
                self._log.write(f"{elapsed:.1f} {phase} {rows} {each}\n")
            self._stop.wait(0.2)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._log:
            self._log.close()

    def report(self) -> str:
        return ", ".join(
            f"pid {p}: {size / 2**20:.0f} MiB in {phase}"
            + (f" at row {rows:,}" if phase == "rows" else "")
            for p, (size, phase, rows) in sorted(self.by_process.items())
        )


def librarian_token(stack: Stack) -> str:
    """New accounts are librarians by default."""
    return stack.register()["access_token"]


def import_file(
    books_url: str,
    token: str,
    path: Path,
    timeout: float,
    renew: Callable[[], str],
    watch: RssSampler | None = None,
    cpu: Callable[[], float] | None = None,
) -> dict:
    """Upload and poll to the end; a new token when the access token expires (a 1M run lasts
    longer than one: the first 1M run of this bench ended on a 401 after 20 minutes). With
    ``watch`` its phase follows the job's (upload, queued, count: before the job knows its total,
    rows); with ``cpu`` (the service's CPU seconds so far) the CPU and seconds of each phase are
    in the answer's ``phases``, as the polls (every 0.5 s) see them."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    marks: list[tuple[str, float, float]] = [("start", started, cpu() if cpu else 0.0)]

    def enter(phase: str) -> None:
        if watch is not None:
            watch.phase = phase
        marks.append((phase, time.perf_counter(), cpu() if cpu else 0.0))

    enter("upload")
    with path.open("rb") as file:
        response = requests.post(
            f"{books_url}/imports", headers=headers, files={"file": (path.name, file)}, timeout=600
        )
    response.raise_for_status()
    location = response.headers["Location"]
    uploaded = time.perf_counter() - started
    enter("queued")
    deadline = time.monotonic() + timeout
    job = response.json()
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        answer = requests.get(f"{books_url}{location}", headers=headers, timeout=30)
        if answer.status_code == 401:
            headers = {"Authorization": f"Bearer {renew()}"}
            continue
        answer.raise_for_status()
        job = answer.json()
        if job["state"] == "running":
            phase = "count" if job["rows_total"] is None else "rows"
            if phase != marks[-1][0]:
                enter(phase)
        if watch is not None:
            watch.rows_done = job["rows_done"]
        print(
            f"\r    {job['state']}: {job['rows_done']:,}/{job['rows_total'] or 0:,} rows, "
            f"{job['rate'] or 0:,.0f} rows/s",
            end="",
            file=sys.stderr,
        )
    print(file=sys.stderr)
    enter("done")
    job["seconds"] = time.perf_counter() - started
    job["upload_seconds"] = uploaded
    job["phases"] = {
        name: {"seconds": t1 - t0, "cpu": c1 - c0}
        for (name, t0, c0), (_next, t1, c1) in itertools.pairwise(marks[1:])
    }
    return job


def export_rates(books_url: str, rows: int, pid: int) -> dict[str, dict[str, float]]:
    """Each format downloaded whole: rows/s by the wall clock, and the peak RSS of the largest
    of the service's processes and of all of them while it streamed (constant memory is the
    promise). JSON Lines' lines are counted: the catalog's rows, exactly."""
    found = {}
    for name in EXPORT_FORMATS:
        started = time.perf_counter()
        size = lines = 0
        with (
            RssSampler(pid) as rss,
            requests.get(f"{books_url}/books/export?format={name}", stream=True, timeout=600) as r,
        ):
            r.raise_for_status()
            for chunk in r.iter_content(1024 * 1024):
                size += len(chunk)
                lines += chunk.count(b"\n")
        seconds = time.perf_counter() - started
        found[name] = {
            "rate": rows / seconds,
            "peak_rss_mib": rss.peak / 2**20,
            "peak_total_mib": rss.peak_total / 2**20,
            "peak_pss_mib": rss.peak_pss / 2**20,
            **({"lines": lines} if name == "estante-jsonl" else {}),
        }
        print(
            f"    export {name}: {rows / seconds:,.0f} rows/s ({size / 2**20:,.0f} MiB, "
            f"{seconds:.1f} s), peak RSS of a process {rss.peak / 2**20:.0f} MiB, "
            f"of all {rss.peak_total / 2**20:.0f} MiB (PSS {rss.peak_pss / 2**20:.0f})",
            file=sys.stderr,
        )
    return found


def check_catalog(books_url: str, job: dict, size: int, samples: dict[int, Sample]) -> list[str]:
    """What is wrong with the imported catalog (nothing, if it is right): it holds ``size``
    books; the first, middle and last rows are found by a search of their title (and by their
    ISBN when they have one), and each one's history names this import, the file and its row."""
    problems = []
    answer = requests.get(f"{books_url}/books", params={"limit": 1}, timeout=60)
    answer.raise_for_status()
    total = answer.headers.get("X-Total-Count")
    if total != str(size) or "X-Total-Count-Estimated" in answer.headers:
        problems.append(f"the catalog holds {total} books, not {size}")
    for sample in samples.values():
        found = requests.get(f"{books_url}/books", params={"q": sample.title}, timeout=60)
        found.raise_for_status()
        books = [b for b in found.json() if b["title"] == sample.title]
        if len(books) != 1:
            problems.append(f"a search for row {sample.row}'s title found {len(books)} such books")
            continue
        book = books[0]
        if sample.isbn is not None:
            by_isbn = requests.get(f"{books_url}/books", params={"isbn": sample.isbn}, timeout=60)
            if [b["id"] for b in by_isbn.json()] != [book["id"]]:
                problems.append(
                    f"row {sample.row}'s ISBN {sample.isbn} does not find book {book['id']}"
                )
        history = requests.get(f"{books_url}/books/{book['id']}/history", timeout=60).json()
        origins = [entry.get("origin") for entry in history]
        expected = {"import": job["id"], "file": job["filename"], "row": sample.row}
        if origins != [expected]:
            problems.append(f"book {book['id']}'s history has origins {origins}, not [{expected}]")
    return problems


def postgres_database(prefix: str) -> tuple[str, str]:
    """A new database named with ``prefix`` (unique to whoever runs the bench on a shared
    server, so that what is left behind can be told apart and dropped)."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return name, f"{base}/{name}"


def drop_postgres(name: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def run_one(
    backend: str,
    size: int,
    path: Path,
    timeout: float,
    samples: dict[int, Sample],
    export: bool = True,
    rss_log: Path | None = None,
    prefix: str = "import_bench_",
) -> dict:
    with tempfile.TemporaryDirectory(prefix="estante-bench-import-") as tmp:
        urls, pg_name = None, None
        if backend == "postgres":
            pg_name, books_url = postgres_database(prefix)
            auth_name, auth_url = postgres_database(prefix)
            urls = {"books": books_url, "auth": auth_url}
        stack = build_stack(Path(tmp), backend, urls, {"ESTANTE_LOG_LEVEL": "WARNING"})
        try:
            stack.auth.start()
            stack.books.start()
            token = librarian_token(stack)
            assert stack.books.process is not None
            pid = stack.books.process.pid
            cpu_before = cpu_seconds(pid)
            written_before = disk_writes(pid)
            server_before = backend_cpu(pg_name) if pg_name else {}
            with RssSampler(pid, rss_log) as rss:
                job = import_file(
                    stack.books_url,
                    token,
                    path,
                    timeout,
                    lambda: librarian_token(stack),
                    rss,
                    lambda: cpu_seconds(pid),
                )
            cpu = cpu_seconds(pid) - cpu_before
            written = disk_writes(pid) - written_before
            server = (
                sum(c - server_before.get(p, 0.0) for p, c in backend_cpu(pg_name).items())
                if pg_name
                else None
            )
            result = {
                "backend": backend,
                "rows": size,
                "state": job["state"],
                "created": job["created"],
                "rejected": job["rejected"],
                "seconds": job["seconds"],
                "rate": size / job["seconds"],
                "upload_seconds": job["upload_seconds"],
                "cpu_us_per_row": cpu / size * 1e6,
                "disk_kib_per_row": written / size / 1024,
                "server_cpu_us_per_row": server / size * 1e6 if server is not None else None,
                "peak_rss_mib": rss.peak / 2**20,
                "peak_total_mib": rss.peak_total / 2**20,
                "peak_pss_mib": rss.peak_pss / 2**20,
                "idle_rss_mib": max(rss.baseline.values(), default=0) / 2**20,
                "phases": job["phases"],
                "by_process": rss.report(),
            }
            print(
                f"  {backend} {size:,}: {job['state']}, {result['rate']:,.0f} rows/s end to end "
                f"({job['seconds']:.1f} s), peak RSS of a process {result['peak_rss_mib']:.0f} MiB "
                f"(idle {result['idle_rss_mib']:.0f}), of all {result['peak_total_mib']:.0f} MiB "
                f"(PSS {result['peak_pss_mib']:.0f}), "
                f"service CPU {result['cpu_us_per_row']:.0f} µs a row, its disk writes "
                f"{result['disk_kib_per_row']:.1f} KiB a row"
                + (f", PostgreSQL's backends {server / size * 1e6:.0f}" if server else ""),
                file=sys.stderr,
            )
            phases = ", ".join(
                f"{name} {p['seconds']:.1f} s / {p['cpu'] / size * 1e6:.0f} µs a row"
                for name, p in job["phases"].items()
            )
            print(f"    phases (wall / service CPU): {phases}", file=sys.stderr)
            print(f"    each process's peak: {result['by_process']}", file=sys.stderr)
            if job["state"] == "succeeded":
                result["problems"] = check_catalog(stack.books_url, job, size, samples)
                print(
                    "    catalog: "
                    + ("; ".join(result["problems"]) or f"right ({len(samples)} rows looked up)"),
                    file=sys.stderr,
                )
            if job["state"] == "succeeded" and export:
                result["export"] = export_rates(stack.books_url, job["created"], pid)
                lines = result["export"]["estante-jsonl"]["lines"]
                if lines != size:
                    result["problems"].append(
                        f"the JSON Lines export has {lines} lines, not {size}"
                    )
            return result
        finally:
            stack.stop()
            if pg_name:
                drop_postgres(pg_name)
                drop_postgres(auth_name)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.import_export", description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per import at most")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    parser.add_argument("--no-export", action="store_true", help="measure the import only")
    parser.add_argument(
        "--db-prefix",
        default="import_bench_",
        help="name of the PostgreSQL databases created (and dropped): prefix + a random suffix",
    )
    parser.add_argument(
        "--rss-log", type=Path, help="write every memory sample (each process, the phase) here"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    results = []
    with tempfile.TemporaryDirectory(prefix="estante-bench-files-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"goodreads_library_export_{size}.csv"
            started = time.perf_counter()
            samples = generate(path, size)
            mib = path.stat().st_size / 2**20
            seconds = time.perf_counter() - started
            print(f"generated {size:,} rows ({mib:,.0f} MiB) in {seconds:.0f} s", file=sys.stderr)
            for backend in args.backends.split(","):
                log = (
                    args.rss_log.with_name(f"{args.rss_log.stem}-{backend}-{size}.log")
                    if args.rss_log
                    else None
                )
                results.append(
                    run_one(
                        backend,
                        size,
                        path,
                        args.timeout,
                        samples,
                        not args.no_export,
                        log,
                        args.db_prefix,
                    )
                )
            path.unlink()
    lines = [
        "| database | rows | state | import rows/s (end to end) | seconds | service CPU µs/row | "
        "PostgreSQL backends' CPU µs/row | "
        "peak RSS of a process, idle → peak (MiB) | all processes, RSS / PSS (MiB) | "
        + " | ".join(f"export {f} rows/s (peak RSS)" for f in EXPORT_FORMATS)
        + " |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(EXPORT_FORMATS),
    ]
    for r in results:
        exports = r.get("export", {})
        lines.append(
            f"| {r['backend']} | {r['rows']:,} | {r['state']} | {r['rate']:,.0f} | "
            f"{r['seconds']:.1f} | {r['cpu_us_per_row']:.0f} | "
            + (
                f"{r['server_cpu_us_per_row']:.0f} | "
                if r["server_cpu_us_per_row"] is not None
                else "- | "
            )
            + f"{r['idle_rss_mib']:.0f} → {r['peak_rss_mib']:.0f} | "
            f"{r['peak_total_mib']:.0f} / {r['peak_pss_mib']:.0f} | "
            + " | ".join(
                f"{exports[f]['rate']:,.0f} ({exports[f]['peak_rss_mib']:.0f} MiB)"
                if f in exports
                else "-"
                for f in EXPORT_FORMATS
            )
            + " |"
        )
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    wrong = [f"{r['backend']} {r['rows']:,}: {p}" for r in results for p in r.get("problems", [])]
    failed = [
        f"{r['backend']} {r['rows']:,}: {r['state']}" for r in results if r["state"] != "succeeded"
    ]
    if wrong or failed:
        sys.exit("\n".join(failed + wrong))


if __name__ == "__main__":
    main()
