"""The import progress fragment says when a running import has left the listing indexes out
(sorted lists slower meanwhile), and only then."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, render_template

from web_service.views.imports import RUNNING

NOTE = "lists sorted by title, author or publisher"


def _fragment(web: Flask, **job: Any) -> str:
    base = {"id": 9, "state": "running", "dry_run": False, "rows_total": 10**6, "rows_done": 4000}
    base |= {"rate": 12000.0, "eta_seconds": 83.0, "created": 4000, "updated": 0}
    base |= {"skipped": 0, "rejected": 0, "error": None, "preview": []}
    with web.test_request_context("/imports/9/status"):
        return render_template("imports/_status.html", job=base | job, running=RUNNING)


@pytest.mark.parametrize(
    ("state", "deferred", "said"),
    [("running", True, True), ("running", False, False), ("succeeded", True, False)],
)
def test_the_progress_says_sorted_lists_are_slower_only_while_a_deferring_import_runs(
    web: Flask, state: str, deferred: bool, said: bool
) -> None:
    assert (NOTE in _fragment(web, state=state, indexes_deferred=deferred)) is said
