"""``make demo`` against running services: it creates its account with the Auth Service's own
command, fills the catalog over HTTP, and a second run adds nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from common.config import PROJECT_ROOT
from ops.demo import demo_books
from tests.support.harness import Stack, build_stack


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = build_stack(tmp_path_factory.mktemp("demo"), "sqlite")
    stack.start()
    yield stack
    stack.stop()


def test_make_demo_fills_the_catalog_once(demo_stack: Stack) -> None:
    expected = demo_books()
    first = demo_stack.run_demo()
    assert first.returncode == 0, first.stderr
    password_file = Path(demo_stack.data_dir) / "demo-password"
    assert "created the administrator demo" in first.stdout
    assert password_file.stat().st_mode & 0o077 == 0
    assert f"{len(expected)} books added, 0 were there already" in first.stdout

    catalog = demo_stack.list_books()
    assert len(catalog) == len(expected)
    by_title = {book["title"]: book for book in catalog}
    quixote = by_title["El ingenioso hidalgo don Quijote de la Mancha"]
    assert (quixote["series"], quixote["series_index"], quixote["language"]) == (
        "Don Quijote",
        1,
        "es",
    )
    assert by_title["Astérix le Gaulois"]["authors"] == ["René Goscinny", "Albert Uderzo"]
    found = requests.get(
        f"{demo_stack.books_url}/books", params={"q": "memorias postumas"}, timeout=10
    )
    assert [b["title"] for b in found.json()] == ["Memórias Póstumas de Brás Cubas"]

    again = demo_stack.run_demo()
    assert again.returncode == 0, again.stderr
    assert f"0 books added, {len(expected)} were there already" in again.stdout
    assert len(demo_stack.list_books()) == len(expected)
    assert demo_stack.login("demo", password_file.read_text().strip())["user"]["roles"] == ["admin"]


def test_make_demo_says_when_the_services_are_not_running(tmp_path: Path) -> None:
    env = {**os.environ, "ESTANTE_DATA_DIR": str(tmp_path), "AUTH_URL": "http://127.0.0.1:9"}
    result = subprocess.run(
        [sys.executable, "-m", "ops.demo"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "are the services running? make run" in result.stderr
