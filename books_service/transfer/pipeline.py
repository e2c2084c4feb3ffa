"""An import's batches prepared in a second process while the job's own process writes them.

Half of a batch's work needs no database: reading the stored file, decoding and mapping its
rows, checking them with the API's rules and computing their derived keys. A forked child does
that for the next batch while the parent plans, writes and commits the current one, so an
import uses both of a machine's cores instead of one (a thread did not help: the GIL).

What stays in the parent, so that every guarantee is the in-process one: every write and
commit, duplicate matching, the job's progress and lease. A batch commits atomically with
``rows_done``, and the child starts at the first row after the last committed batch: the
resume point is defined by what committed, never by how far the child got.

The child sends each checked batch as one pickled message through a pipe: plain tuples, dicts
and strings (a batch of ``Planned`` objects cost ten times as much to unpickle, measured). The
pipe holds 64 KiB, so the child blocks on the batch after the one the parent is writing: at
most two batches are in memory at once, whatever the file's size.

The child inherits the parent's memory (``fork``: nothing to import again, ~10 ms to start)
but never touches the parent's database connections: it reads the file with an engine of its
own and leaves with ``os._exit`` (no finalizer of an inherited object runs), and what existed
at the fork is frozen out of the collector (``runner._fewer_collections``). A lock another
thread held at the fork would hang the child (why Python 3.12 warns about forking a process
with threads): the parent stops a child that sends nothing for two minutes. When the parent
stops (finished, cancelled, taken over, failed, or killed) the child goes too: terminated by
the parent, or, if the parent was killed, at its next write to the closed pipe."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import pickle
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from books_service.transfer import formats, importer
from books_service.transfer.files import open_stored
from books_service.transfer.keys import Keys
from books_service.transfer.rows import FileProblem, Row
from common.db import Database

log = logging.getLogger("estante.imports")
_fork = multiprocessing.get_context("fork")
_dumps, _loads = pickle.dumps, pickle.loads
_PROTOCOL = pickle.HIGHEST_PROTOCOL
# A child that sends nothing for this long is taken for stuck (a batch takes well under a
# second; a lock another thread held when the parent forked would hang it for ever): stopped,
# and handled as if it had been killed.
STALLED_SECONDS = 120.0


class Stopped(Exception):
    """The preparing process ended without finishing the file (killed, out of memory)."""


class Failed(Exception):
    """The preparing process hit an error it could not recover from (a bug, not the file's)."""


@dataclass(frozen=True)
class Job:
    """What the child needs to read a job's file from the first row not yet committed."""

    url: str
    job_id: int
    format: str
    encoding: str
    mapping: Any
    done: int
    batch_rows: int
    # Whether a valid row's original record may be needed (for the rejects file): only when
    # duplicates are added, where a row whose ISBN the catalog has is refused by the match.
    originals: bool = False


def batches(rows: Iterator[Row], done: int, size: int) -> Iterator[list[importer.Planned]]:
    """The file's rows after ``done``, in checked batches of ``size``."""
    batch: list[Row] = []
    for row in rows:
        if row.number <= done:
            continue
        batch.append(row)
        if len(batch) >= size:
            yield importer.check(batch)
            batch = []
    if batch:
        yield importer.check(batch)


@contextmanager
def prepared(
    job: Job, keep_alive: Callable[[], None], every: float, stalled: float = STALLED_SECONDS
) -> Iterator[Iterator[list[importer.Planned]]]:
    """The job's checked batches, prepared by a child process; ``keep_alive`` is called every
    ``every`` seconds while the parent waits for one (the job's lease), :class:`Stopped` raised
    after ``stalled`` seconds without a message. The child is gone when the block ends, however
    it ends."""
    reader, writer = _fork.Pipe(duplex=False)
    process = _fork.Process(
        target=_prepare, args=(job, reader, writer), name=f"estante-import-{job.job_id}"
    )
    process.daemon = True  # terminated if this process exits while it runs
    process.start()
    writer.close()
    try:
        yield _received(reader, process, keep_alive, every, stalled)
    finally:
        reader.close()
        if process.is_alive():
            process.terminate()
            process.join(5)
            if process.is_alive():
                process.kill()
        process.join()


def _received(
    reader: Connection,
    process: Any,
    keep_alive: Callable[[], None],
    every: float,
    stalled: float,
) -> Iterator[list[importer.Planned]]:
    kept = time.monotonic()
    while True:
        since = time.monotonic()
        while not reader.poll(min(every, stalled, 1.0)):
            now = time.monotonic()
            if now - since >= stalled:
                raise Stopped(f"the process preparing the rows sent nothing for {stalled:g} s")
            if now - kept >= every:
                keep_alive()
                kept = time.monotonic()
        try:
            message = reader.recv_bytes()
        except EOFError:
            process.join(5)
            raise Stopped(_how_it_ended(process.exitcode)) from None
        kind, payload = _loads(message)
        if kind == "batch":
            yield [_unpacked(item) for item in payload]
        elif kind == "end":
            return
        elif kind == "problem":
            raise FileProblem(payload)
        else:
            raise Failed(payload)


def _how_it_ended(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"the process preparing the rows was killed ({name})"
    return f"the process preparing the rows stopped (exit status {code})"


def _prepare(job: Job, reader: Connection, writer: Connection) -> None:
    """The child: read, map, check and key the rows, one message a batch, then "end"."""
    reader.close()
    # The parent stops it with SIGTERM; a Ctrl-C meant for the service is the parent's to handle.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    db = Database(job.url)  # connections of its own: the inherited ones are the parent's
    try:
        spec = formats.FORMATS[job.format]
        rows = spec.read(open_stored(db.read, job.job_id), job.encoding, job.mapping)
        for batch in batches(rows, job.done, job.batch_rows):
            packed = [_packed(p, job.originals) for p in batch]
            writer.send_bytes(_dumps(("batch", packed), _PROTOCOL))
            del batch, packed
            gc.collect(0)
        writer.send_bytes(_dumps(("end", None), _PROTOCOL))
    except (BrokenPipeError, ConnectionResetError):
        return  # the parent is gone or stopped reading: nothing to report to
    except FileProblem as problem:
        writer.send_bytes(_dumps(("problem", str(problem)), _PROTOCOL))
    except Exception as error:
        log.exception("import %s: preparing the rows failed", job.job_id)
        message = f"preparing the rows failed: {type(error).__name__}: {error}"[:500]
        writer.send_bytes(_dumps(("failed", message), _PROTOCOL))
    finally:
        writer.close()
        db.dispose()


# A checked row on the wire: a valid one as (number, source id, record, derived columns,
# author keys, subject keys, the names of the fields the file gave, its book values and history
# entry, its original record or b""); a rejected one as
# (number, source id, None, reason, the original record, its fields). The parent needs of the
# fields only their names (an update changes those), of a rejected row its original bytes.


def _packed(item: importer.Planned, originals: bool) -> tuple[Any, ...]:
    row = item.row
    if item.record is None or item.facets is None:
        return (row.number, row.source_id, None, item.reason, row.original, row.fields)
    facets = item.facets
    fields = tuple(row.fields) if row.fields is not None else ()
    return (
        row.number,
        row.source_id,
        item.record,
        facets.columns,
        facets.authors,
        facets.subjects,
        fields,
        item.values,
        item.history,
        row.original if originals else b"",
    )


def _unpacked(packed: tuple[Any, ...]) -> importer.Planned:
    number, source_id, record = packed[0], packed[1], packed[2]
    if record is None:
        _, _, _, reason, original, fields = packed
        row = Row(number, original, fields, reason, source_id)
        return importer.Planned(row, "reject", reason=reason)
    _, _, _, columns, authors, subjects, names, values, history, original = packed
    row = Row(number, original, dict.fromkeys(names), None, source_id)
    facets = Keys(columns, authors, subjects)
    return importer.Planned(row, "create", record, columns, facets, values=values, history=history)
