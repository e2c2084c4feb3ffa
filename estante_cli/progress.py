"""Progress bars on standard error, shown only when it is a terminal (a script's log gets the
summary alone): bytes for uploads and downloads, rows with their rate and ETA for import jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from estante_cli import output


def _enabled() -> bool:
    return output.err.is_terminal


@contextmanager
def bytes_progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A bar of bytes moved; yields the function to call with each chunk's size."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=output.err,
        disable=not _enabled(),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda size: bar.advance(task, size)


class JobProgress:
    """An import job's rows: done of total, rows per second and ETA, as the server counts them."""

    def __init__(self, description: str) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[eta]}"),
            console=output.err,
            disable=not _enabled(),
            transient=True,
        )
        self.task: TaskID = self.bar.add_task(description, total=None, rate="", eta="")

    def __enter__(self) -> JobProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def update(self, job: dict[str, Any]) -> None:
        rate = job.get("rate")
        eta = job.get("eta_seconds")
        self.bar.update(
            self.task,
            completed=job.get("rows_done") or 0,
            total=job.get("rows_total"),
            description=f"import {job.get('id')} {job.get('state', '')}",
            rate=f"{rate:,.0f} rows/s" if isinstance(rate, int | float) else "",
            eta=f"ETA {format_seconds(eta)}" if isinstance(eta, int | float) else "",
        )


def format_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class CountingReader:
    """A binary file that reports each chunk read from it (an upload's progress). It keeps the
    file's ``seek``/``tell``/``fileno`` so the HTTP client still streams it with its length."""

    def __init__(self, handle: IO[bytes], advance: Callable[[int], None]) -> None:
        self.handle = handle
        self.advance = advance

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.advance(len(chunk))
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.handle.seek(offset, whence)

    def tell(self) -> int:
        return self.handle.tell()

    def fileno(self) -> int:
        return self.handle.fileno()
