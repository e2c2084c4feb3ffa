"""An import's memory stays flat: with the garbage collector's young generation collected only
every 50,000 allocations during a job (``runner._fewer_collections``), the reference cycles a
batch leaves behind (SQLAlchemy's statements, each holding a lookup's list of keys) would pile
up for hundreds of batches (a 1,000,000-row import grew by ~120 MiB before a full collection).
Each batch's cycles must be gone once the next batch is being worked on."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import pytest

from books_service.transfer import importer, runner
from common.db import Database
from tests.support.import_jobs import claimed_job, migrated_catalog


class _Cycle:
    """Garbage only the cyclic collector can free."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return migrated_catalog(tmp_path)


def test_each_batch_reference_cycles_are_freed_before_the_next_batch_is_written(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = claimed_job(db, [f"{n},Book {n},Ana Lima,,,,,read\n" for n in range(1, 13)])
    left: list[weakref.ref[_Cycle]] = []
    alive_at_write: list[int] = []
    plan, write = importer.plan, importer.write

    def planning(*args: Any, **kwargs: Any) -> list[importer.Planned]:
        left.append(weakref.ref(_Cycle()))  # unreachable at once, freed only by a collection
        return plan(*args, **kwargs)

    def writing(*args: Any, **kwargs: Any) -> importer.Outcome:
        alive_at_write.append(sum(ref() is not None for ref in left[:-1]))
        return write(*args, **kwargs)

    monkeypatch.setattr(importer, "plan", planning)
    monkeypatch.setattr(importer, "write", writing)
    gc.collect()
    assert runner.run(db, job_id, runner.Tuning(batch_rows=3)) == "succeeded"
    assert len(alive_at_write) == 4
    assert alive_at_write == [0, 0, 0, 0]  # earlier batches' cycles: collected
