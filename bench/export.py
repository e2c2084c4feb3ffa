"""Export speed and memory: ``make bench-export`` seeds a catalog with bench/seed.py (100,000
books in a few seconds, 1,000,000 in about 40), starts the Books Service as in production
(Granian, 2 workers) on it, and downloads ``GET /books/export`` in every format over HTTP.

    .venv/bin/python -m bench.export [--books 100000] [--backends sqlite,postgres]
                                     [--formats estante-csv,...] [--rounds 2] [--out FILE]
                                     [--against DIR] [--db-prefix estante_bench]

For each format: rows/s by the wall clock (the request's start to the file's last byte), rows/s
by the CPU the service's processes spent on it (utime + stime from /proc, which a busy, shared
machine disturbs far less than the wall clock; the database server's CPU is not in it), the
file's size, and the resident memory of the service's largest process, idle and at its peak
(sampled every 0.2 s): an export streams, so the peak must not grow with the catalog. Rounds
take turns over the formats and the medians are reported.

``--against DIR`` (another worktree, /work/main for instance) starts DIR's Books Service on the
same seeded catalog too and downloads every file from both, the two taking turns (which goes
first alternates from round to round): on a machine shared with other work, only figures
measured side by side like this compare. The table then gives both and their ratio.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from pathlib import Path

import requests

from bench.catalog import machine, seeded_books_service
from bench.import_export import EXPORT_FORMATS, RssSampler, rss_by_process

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and of its children (Granian's workers)."""
    total = 0.0
    for p in rss_by_process(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def export_once(base: str, pid: int, name: str, books: int) -> dict[str, float]:
    cpu = cpu_seconds(pid)
    with RssSampler(pid) as rss:
        started = time.perf_counter()
        size = 0
        with requests.get(f"{base}/books/export?format={name}", stream=True, timeout=900) as r:
            r.raise_for_status()
            for chunk in r.iter_content(1024 * 1024):
                size += len(chunk)
        seconds = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu
    return {
        "wall": books / seconds,
        "cpu": books / cpu if cpu > 0 else 0.0,
        "mib": size / 2**20,
        "idle_rss": max(rss.baseline.values(), default=0) / 2**20,
        "peak_rss": rss.peak / 2**20,
    }


def measure(
    backend: str,
    books: int,
    formats: list[str],
    rounds: int,
    *,
    against: Path | None = None,
    prefix: str = "estante_bench",
) -> dict[str, dict[str, list[dict]]]:
    """Per tree ("this", or ``against``'s path) and format, each round's figures."""
    trees = ["this"] + ([str(against)] if against else [])
    runs: dict[str, dict[str, list[dict]]] = {
        tree: {name: [] for name in formats} for tree in trees
    }
    also = (against,) if against else ()
    with seeded_books_service(backend, books, "export", prefix=prefix, also=also) as service:
        served = {"this": (service.base, service.process.pid)}
        served.update({str(root): (base, p.pid) for root, (base, p) in service.others.items()})
        for round_ in range(rounds):
            for name in formats:
                order = trees if round_ % 2 == 0 else trees[::-1]
                for tree in order:
                    base, pid = served[tree]
                    result = export_once(base, pid, name, books)
                    runs[tree][name].append(result)
                    print(
                        f"  round {round_ + 1} {tree} {name}: {result['wall']:,.0f} rows/s wall, "
                        f"{result['cpu']:,.0f} rows/s of service CPU, {result['mib']:,.0f} MiB, "
                        f"RSS {result['idle_rss']:.0f} -> {result['peak_rss']:.0f} MiB",
                        file=sys.stderr,
                    )
    return runs


def _median(results: list[dict], measure: str) -> float:
    return statistics.median(r[measure] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__)
    parser.add_argument("--books", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--formats", default=",".join(EXPORT_FORMATS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    parser.add_argument("--against", type=Path, help="another tree measured side by side")
    parser.add_argument(
        "--db-prefix", default="estante_bench", help="PostgreSQL database names start with this"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    formats = args.formats.split(",")
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {machine()}, load average "
        f"{os.getloadavg()[0]:.1f}, {args.books:,} books, medians of {args.rounds} rounds.",
        "",
    ]
    if args.against:
        lines += [
            f"| database | format | rows/s wall, {args.against} | this tree | ratio "
            f"| rows/s service CPU, {args.against} | this tree | ratio |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
    else:
        lines += [
            "| database | format | rows/s (wall) | rows/s (service CPU) | MiB | largest process "
            "RSS, idle → peak (MiB) |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
    for backend in args.backends.split(","):
        runs = measure(
            backend, args.books, formats, args.rounds, against=args.against, prefix=args.db_prefix
        )
        for name, results in runs["this"].items():
            if args.against:
                other = runs[str(args.against)][name]
                cells = []
                for measure_ in ("wall", "cpu"):
                    theirs, ours = _median(other, measure_), _median(results, measure_)
                    cells += [f"{theirs:,.0f}", f"{ours:,.0f}", f"{ours / theirs:.2f}"]
                lines.append(f"| {backend} | {name} | " + " | ".join(cells) + " |")
                continue
            lines.append(
                f"| {backend} | {name} | "
                f"{_median(results, 'wall'):,.0f} | "
                f"{_median(results, 'cpu'):,.0f} | "
                f"{results[0]['mib']:,.0f} | "
                f"{min(r['idle_rss'] for r in results):.0f} → "
                f"{max(r['peak_rss'] for r in results):.0f} |"
            )
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
