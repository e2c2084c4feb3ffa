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

One stack (Auth, Books and Web, each as in production: Granian, 2 workers x 4 threads) on a
SQLite catalog seeded by bench/seed.py with ``--books`` books. Every request carries the
cookie of one browser's session, as a browser would. wrk runs on the same machine as the three
services, so compare within one run: the ratio is the result, not the absolute numbers.
"""

from __future__ import annotations

import argparse
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

CONNECTIONS = 16
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
            run(stack.books_url, stack.web_url, args, took, base)
        finally:
            stack.stop()


def run(books_url: str, web_url: str, args: argparse.Namespace, took: float, base: Path) -> None:
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
    for url, lua in targets.values():  # warm both workers of each
        wrk(url, 2, CONNECTIONS, lua, threads=1)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    typing: list[dict[str, float]] = []
    typing_api: list[dict[str, float]] = []
    for round_ in range(args.rounds):
        for name, (url, lua) in targets.items():
            runs[name].append(wrk(url, args.seconds, CONNECTIONS, lua, threads=1))
            print(f"round {round_ + 1} {name}: {runs[name][-1]}", file=sys.stderr)
        typing.append(wrk(f"{web_url}/", args.seconds, 1, script, threads=1))
        print(f"round {round_ + 1} typing: {typing[-1]}", file=sys.stderr)
        typing_api.append(wrk(f"{books_url}/", args.seconds, 1, api_script, threads=1))
        print(f"round {round_ + 1} typing, API: {typing_api[-1]}", file=sys.stderr)

    def median(series: list[dict[str, float]], measure: str) -> float:
        return statistics.median(run[measure] for run in series)

    print(
        f"\n{args.books:,} books (SQLite, seeded in {took:.0f} s), {args.rounds} rounds of "
        f"{args.seconds} s, medians:\n"
    )
    print("| what | connections | req/s | p50 ms | p99 ms | non-2xx |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, series in runs.items():
        print(
            f"| {name} | {CONNECTIONS} | {median(series, 'rps'):.0f} | "
            f"{median(series, 'p50'):.1f} | {median(series, 'p99'):.1f} | "
            f"{median(series, 'errors'):.0f} |"
        )
    for name, series in (
        (f"web: search as you type, {len(prefixes)} prefixes of {title!r}", typing),
        ("Books API: the same searches", typing_api),
    ):
        print(
            f"| {name} | 1 | {median(series, 'rps'):.0f} | {median(series, 'p50'):.1f} | "
            f"{median(series, 'p99'):.1f} | {median(series, 'errors'):.0f} |"
        )
    api, page = (runs[name] for name in targets)
    ratios = [p["rps"] / a["rps"] for a, p in zip(api, page, strict=True)]
    print(
        f"\ncatalog page / API rate, median of {len(ratios)} interleaved pairs: "
        f"{statistics.median(ratios):.2f} (target >= 0.5)"
    )
    print(f"search-as-you-type p99: {median(typing, 'p99'):.1f} ms (target < 100)")


if __name__ == "__main__":
    main()
