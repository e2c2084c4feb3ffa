"""The Postman collection in postman/, run by newman against the real running services."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from common.config import PROJECT_ROOT
from tests.support.harness import Stack

NEWMAN = PROJECT_ROOT / "node_modules" / ".bin" / "newman"
COLLECTION = PROJECT_ROOT / "postman" / "estante.postman_collection.json"
ENVIRONMENT = PROJECT_ROOT / "postman" / "estante.postman_environment.json"


@pytest.fixture(scope="module")
def newman() -> Path:
    if NEWMAN.exists() and shutil.which("node"):
        return NEWMAN
    reason = "newman is not installed (make test installs it with npm when npm is available)"
    if os.environ.get("ESTANTE_REQUIRE_NEWMAN") == "1":
        pytest.fail(f"ESTANTE_REQUIRE_NEWMAN=1 but {reason}")
    pytest.skip(reason)


def test_the_postman_collection_passes(stack: Stack, newman: Path, tmp_path: Path) -> None:
    report = tmp_path / "newman.json"
    result = subprocess.run(
        [
            str(newman),
            "run",
            str(COLLECTION),
            "--environment",
            str(ENVIRONMENT),
            "--env-var",
            f"auth_url={stack.auth_url}",
            "--env-var",
            f"books_url={stack.books_url}",
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--color",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    run = json.loads(report.read_text())["run"]
    assert run["stats"]["assertions"]["failed"] == 0
    items = json.loads(COLLECTION.read_text())["item"]
    assert run["stats"]["requests"]["total"] == len(items)
    # Every answer was checked, not only sent.
    unchecked = [e["item"]["name"] for e in run["executions"] if not e.get("assertions")]
    assert not unchecked, unchecked


def test_the_collection_walks_the_whole_catalog() -> None:
    """What the collection covers, so that it does not quietly shrink back: merge patches,
    If-Match and a stale one refused, history, search and its pages, refresh and logout."""
    requests = [item["request"] for item in json.loads(COLLECTION.read_text())["item"]]

    def sent(method: str, text: str) -> list[dict[str, object]]:
        return [r for r in requests if r["method"] == method and text in json.dumps(r["url"])]

    def header(request: dict[str, object], name: str) -> str | None:
        return next((h["value"] for h in request["header"] if h["key"] == name), None)

    patches = sent("PATCH", "/books/")
    assert {header(p, "Content-Type") for p in patches} == {"application/merge-patch+json"}
    assert {header(p, "If-Match") for p in patches} == {"{{etag}}", "{{stale_etag}}"}
    assert sent("GET", "/history")
    assert sent("GET", "q={{tag}}") and sent("GET", "{{next_page}}")
    assert sent("POST", "/token/refresh") and sent("POST", "/logout")
    deletes = sent("DELETE", "/books/{{book_id}}")
    assert len(deletes) == 3  # a stale If-Match, the delete, and again: 404
