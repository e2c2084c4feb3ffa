"""make backup / make restore: back up a populated instance, wipe it, restore, compare."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import requests
from psycopg import sql

from common.config import PROJECT_ROOT
from tests.integration.harness import STRONG_PASSWORD, Stack


def run_backup_command(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.auth.env, **stack.books.env}
    return subprocess.run(
        [sys.executable, "-m", "common.backup", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def wipe(stack: Stack) -> None:
    if stack.backend == "sqlite":
        shutil.rmtree(stack.data_dir)
        return
    for service in ("auth", "books"):
        url = (
            stack.auth.env["AUTH_DATABASE_URL"]
            if service == "auth"
            else stack.books.env["BOOKS_DATABASE_URL"]
        )
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))


def test_backup_wipe_restore(own_stack: Stack, tmp_path: Path) -> None:
    registered = own_stack.register("backed_up_user")
    token = registered["access_token"]
    for title in ("Grande Sertão: Veredas", "Vidas Secas", "Macunaíma"):
        own_stack.add_book(token, title=title)
    books_before = own_stack.list_books()
    backup_dir = tmp_path / "backup"

    made = run_backup_command(own_stack, "backup", "--to", str(backup_dir))
    assert made.returncode == 0, made.stderr
    assert (backup_dir / "manifest.json").exists()

    own_stack.stop()
    wipe(own_stack)
    restored = run_backup_command(own_stack, "restore", "--from", str(backup_dir))
    assert restored.returncode == 0, restored.stderr
    own_stack.auth.start()
    own_stack.books.start()

    assert own_stack.list_books() == books_before
    login = requests.post(
        f"{own_stack.auth_url}/login",
        timeout=10,
        json={"username": "backed_up_user", "password": STRONG_PASSWORD},
    )
    assert login.status_code == 200
    # The keys came back too: a token issued before the backup still verifies.
    own_stack.add_book(token, title="after the restore")
