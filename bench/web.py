"""The web interface's cost, measured on this machine (``make bench-web``).

    .venv/bin/python -m bench.web [--books 1000000] [--seconds 10] [--rounds 3]

1. **Catalog page vs the API.** The server-rendered catalog page (``GET /``, 50 books, the whole
   HTML page) against the Books Service's own ``GET /books?limit=50``, both loaded by wrk
   (1 thread, 16 connections) for ``--seconds``, taking turns, ``--rounds`` times. The page
   costs one API call plus the rendering; the target is at least half the API's rate.
2. **Search as you type.** What htmx asks while someone types a title word by word
   (``GET /?q=...`` with ``HX-Request: true``: only the results), one letter more each time,
   by one person (wrk with 1 connection cycling through the prefixes): its p99, target
   under 100 ms; and the same searches asked of the Books API directly, to tell the search's
   own cost from the web service's.

3. **CPU per page.** Each service's CPU (user + system, summed over its processes from
   ``/proc``) before and after every wrk run: what one catalog page costs the web service and
   the Books Service behind it (its 304s), against what one API page costs the Books Service.
   On a shared machine the rates follow the load; the CPU per request much less.
4. **Distinct pages** (``--distinct``, also run by default after the same-page rounds unless
   ``--no-distinct``): wrk cycles through 16 different queries (8 sorts, with and without a
   year filter), for the page and for the API alike, so neither side serves one page only.

One stack (Auth, Books and Web, each as in production: Granian, 2 workers x 4 threads) on a
SQLite catalog seeded by bench/seed.py with ``--books`` books. Every request carries the
cookie of one browser's session, as a browser would. wrk runs on the same machine as the three
services, so compare within one run: the ratio is the result, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import requests

from bench.catalog import ensure_wrk
from bench.seed import seed
from bench.servers import wrk
from tests.support.harness import build_stack
from web_service.catalog_query import SORTS

CONNECTIONS = 16
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Every sort of the catalog page but relevance (which needs a search).
DISTINCT_SORTS = tuple(sort for sort in SORTS if sort != "relevance")
# 16 queries of 50 books each: every sort, alone and with a year filter.
DISTINCT_QUERIES = [
    f"sort={sort}{extra}" for extra in ("", "&year_from=1900") for sort in DISTINCT_SORTS
]
CYCLE_LUA = """
paths = {%s}
i = 0
wrk.headers["Cookie"] = "%s"
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""
TYPING_LUA = """
paths = {%s}
i = 0
wrk.headers["HX-Request"] = "true"
wrk.headers["Cookie"] = "%s"
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def typed_prefixes(title: str) -> list[str]:
    """What the search box holds after each key, from the first letter to the whole title
    (htmx asks once typing pauses for 300 ms; a fast typist pauses less often)."""
    return [title[:n] for n in range(1, len(title) + 1) if not title[:n].endswith(" ")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--books", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--distinct",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also compare the page and the API over 16 different queries",
    )
    args = parser.parse_args()
    if not ensure_wrk():
        sys.exit("bench-web needs wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="estante-bench-web-") as directory:
        base = Path(directory)
        stack = build_stack(base, "sqlite", extra_env={"ESTANTE_THREADS": "4"}, with_web=True)
        stack.data_dir.mkdir(parents=True, exist_ok=True)
        print(f"seeding {args.books:,} books", file=sys.stderr)
        took = seed(stack.database_url("books"), args.books, report=lambda _: None)
        print(f"seeded in {took:.0f} s", file=sys.stderr)
        stack.start()
        try:
            groups = {
                name: service.process.pid
                for name, service in (("web", stack.web), ("books", stack.books))
                if service is not None and service.process is not None
            }
            run(stack.books_url, stack.web_url, args, took, base, groups)
        finally:
            stack.stop()


def cpu_seconds(group: int) -> float:
    """User + system CPU of every live process of a process group (a service and its
    workers: the harness starts each service in its own session)."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == group:  # pgrp; utime and stime are the 12th and 13th after ")"
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def measured(
    groups: dict[str, int], url: str, seconds: int, connections: int, lua: Path | None
) -> dict[str, float]:
    """A wrk run, with each service's CPU milliseconds per request during it."""
    before = {name: cpu_seconds(group) for name, group in groups.items()}
    result = wrk(url, seconds, connections, lua, threads=1)
    for name, group in groups.items():
        spent = cpu_seconds(group) - before[name]
        result[f"cpu_{name}"] = 1000 * spent / max(result["requests"], 1)
    result["cpu"] = sum(result[f"cpu_{name}"] for name in groups)
    return result


def compare(
    label: str,
    targets: dict[str, tuple[str, Path | None]],
    groups: dict[str, int],
    args: argparse.Namespace,
) -> None:
    """The API and the page taking turns; their rate and CPU-per-request ratios."""
    for url, lua in targets.values():  # warm both workers of each
        wrk(url, 2, CONNECTIONS, lua, threads=1)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for round_ in range(args.rounds):
        for name, (url, lua) in targets.items():
            runs[name].append(measured(groups, url, args.seconds, CONNECTIONS, lua))
            print(f"{label} round {round_ + 1} {name}: {runs[name][-1]}", file=sys.stderr)
    print(f"\n{label}, medians of {args.rounds} rounds:\n")
    names = list(groups)
    print(
        "| what | req/s | p50 ms | p99 ms | non-2xx | CPU ms/request: "
        + " | ".join(names)
        + " | all |"
    )
    print("| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in names) + " | --- |")
    for name, series in runs.items():
        cells = " | ".join(f"{median(series, f'cpu_{group}'):.2f}" for group in names)
        print(
            f"| {name} | {median(series, 'rps'):.0f} | {median(series, 'p50'):.1f} | "
            f"{median(series, 'p99'):.1f} | {median(series, 'errors'):.0f} | {cells} | "
            f"{median(series, 'cpu'):.2f} |"
        )
    api, page = (runs[name] for name in targets)
    rates = [p["rps"] / a["rps"] for a, p in zip(api, page, strict=True)]
    cpus = [a["cpu"] / p["cpu"] for a, p in zip(api, page, strict=True) if p["cpu"]]
    print(
        f"\n{label}: page / API rate, median of {len(rates)} interleaved pairs: "
        f"{statistics.median(rates):.2f} (pairs {', '.join(f'{r:.2f}' for r in rates)}; "
        "target >= 0.5)"
    )
    if cpus:
        print(
            f"{label}: API CPU per request / page CPU per request (all services), median: "
            f"{statistics.median(cpus):.2f} (pairs {', '.join(f'{r:.2f}' for r in cpus)})"
        )


def median(series: list[dict[str, float]], measure: str) -> float:
    return statistics.median(run[measure] for run in series)


def run(
    books_url: str,
    web_url: str,
    args: argparse.Namespace,
    took: float,
    base: Path,
    groups: dict[str, int] | None = None,
) -> None:
    groups = groups or {}
    browser = requests.Session()
    assert browser.get(f"{web_url}/", timeout=60).status_code == 200
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    title = requests.get(f"{books_url}/books/{args.books // 2}", timeout=30).json()["title"]
    prefixes = typed_prefixes(title)
    script = base / "typing.lua"
    paths = ", ".join(f'"/?q={quote(prefix)}"' for prefix in prefixes)
    script.write_text(TYPING_LUA % (paths, cookie))
    # The same searches asked of the Books API directly: what the web service adds to them.
    api_script = base / "typing-api.lua"
    api_paths = ", ".join(f'"/books?limit=50&q={quote(prefix)}"' for prefix in prefixes)
    api_script.write_text(TYPING_LUA % (api_paths, ""))
    cookie_script = base / "cookie.lua"
    cookie_script.write_text(f'wrk.headers["Cookie"] = "{cookie}"\n')

    targets = {
        "Books API: GET /books?limit=50": (f"{books_url}/books?limit=50", None),
        "web: catalog page (50 books)": (f"{web_url}/", cookie_script),
    }
    print(
        f"\n{args.books:,} books (SQLite, seeded in {took:.0f} s), {args.rounds} rounds of "
        f"{args.seconds} s, {CONNECTIONS} connections"
    )
    compare("Same page", targets, groups, args)
    if args.distinct:
        web_cycle = base / "distinct-web.lua"
        web_cycle.write_text(
            CYCLE_LUA % (", ".join(f'"/?{query}"' for query in DISTINCT_QUERIES), cookie)
        )
        api_cycle = base / "distinct-api.lua"
        api_cycle.write_text(
            CYCLE_LUA % (", ".join(f'"/books?limit=50&{query}"' for query in DISTINCT_QUERIES), "")
        )
        compare(
            f"{len(DISTINCT_QUERIES)} distinct queries",
            {
                "Books API: 16 sorts and filters": (f"{books_url}/", api_cycle),
                "web: the same 16 as catalog pages": (f"{web_url}/", web_cycle),
            },
            groups,
            args,
        )

    typing: list[dict[str, float]] = []
    typing_api: list[dict[str, float]] = []
    for round_ in range(args.rounds):
        typing.append(wrk(f"{web_url}/", args.seconds, 1, script, threads=1))
        print(f"round {round_ + 1} typing: {typing[-1]}", file=sys.stderr)
        typing_api.append(wrk(f"{books_url}/", args.seconds, 1, api_script, threads=1))
        print(f"round {round_ + 1} typing, API: {typing_api[-1]}", file=sys.stderr)
    print("\n| what | connections | req/s | p50 ms | p99 ms | non-2xx |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, series in (
        (f"web: search as you type, {len(prefixes)} prefixes of {title!r}", typing),
        ("Books API: the same searches", typing_api),
    ):
        print(
            f"| {name} | 1 | {median(series, 'rps'):.0f} | {median(series, 'p50'):.1f} | "
            f"{median(series, 'p99'):.1f} | {median(series, 'errors'):.0f} |"
        )
    print(f"\nsearch-as-you-type p99: {median(typing, 'p99'):.1f} ms (target < 100)")


if __name__ == "__main__":
    main()
