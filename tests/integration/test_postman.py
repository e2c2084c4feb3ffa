"""The Postman collection in postman/, run by newman against the real running services."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from common.config import PROJECT_ROOT
from tests.integration.harness import Stack

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
    stats = json.loads(report.read_text())["run"]["stats"]
    assert stats["assertions"]["failed"] == 0
    assert stats["assertions"]["total"] >= 20
    assert stats["requests"]["total"] == len(json.loads(COLLECTION.read_text())["item"])
