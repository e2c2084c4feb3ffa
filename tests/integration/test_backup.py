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
from sqlalchemy import inspect, text

from common.config import PROJECT_ROOT
from common.db import create_db_engine
from tests.support.harness import STRONG_PASSWORD, Stack


def run_backup_command(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.auth.env, **stack.books.env}
    return subprocess.run(
        [sys.executable, "-m", "ops.backup", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def database_urls(stack: Stack) -> dict[str, str]:
    return {name: stack.database_url(name) for name in ("auth", "books")}


def snapshot(stack: Stack) -> dict[str, dict[str, list[str]]]:
    """Every row of every table of both databases, each row as text, in a stable order: what a
    restore must give back exactly (deleted books, history, accounts, sessions, versions...)."""
    found = {}
    for name, url in database_urls(stack).items():
        engine = create_db_engine(url)
        try:
            with engine.connect() as connection:
                found[name] = {
                    table: sorted(
                        repr(tuple(row))
                        for row in connection.execute(text(f'SELECT * FROM "{table}"'))
                    )
                    for table in inspect(connection).get_table_names()
                }
        finally:
            engine.dispose()
    return found


def populate(stack: Stack) -> str:
    """A bit of everything: accounts, sessions and a rotated refresh token, a failed login,
    books added, changed and deleted. Returns an access token."""
    registered = stack.register("backed_up_user")
    token = registered["access_token"]
    stack.register("another_user")
    refreshed = requests.post(
        f"{stack.auth_url}/token/refresh",
        json={"refresh_token": registered["refresh_token"]},
        timeout=10,
    )
    assert refreshed.status_code == 200
    wrong = requests.post(
        f"{stack.auth_url}/login",
        json={"username": "another_user", "password": "not the password"},
        timeout=10,
    )
    assert wrong.status_code == 401
    auth = {"Authorization": f"Bearer {token}"}
    books = [
        stack.add_book(token, title=title)
        for title in ("Grande Sertão: Veredas", "Vidas Secas", "Macunaíma")
    ]
    changed = requests.put(
        f"{stack.books_url}/books/{books[0]['id']}",
        json={"title": "Grande Sertão: Veredas", "author": "João Guimarães Rosa"},
        headers=auth,
        timeout=10,
    )
    assert changed.status_code == 200
    deleted = requests.delete(f"{stack.books_url}/books/{books[2]['id']}", headers=auth, timeout=10)
    assert deleted.status_code == 204
    return token


def wipe(stack: Stack) -> None:
    if stack.backend == "sqlite":
        shutil.rmtree(stack.data_dir)
        return
    for url in database_urls(stack).values():
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))


def test_backup_wipe_restore(own_stack: Stack, tmp_path: Path) -> None:
    token = populate(own_stack)
    books_before = own_stack.list_books()
    before = snapshot(own_stack)
    # The test is only as good as what there is to lose.
    for service, table in (
        ("auth", "users"),
        ("auth", "sessions"),
        ("auth", "refresh_tokens"),
        ("books", "books"),
        ("books", "book_history"),
    ):
        assert before[service][table], f"{service}.{table} is empty"
    assert len(before["books"]["books"]) == len(books_before) + 1  # the deleted one
    backup_dir = tmp_path / "backup"

    made = run_backup_command(own_stack, "backup", "--to", str(backup_dir))
    assert made.returncode == 0, made.stderr
    assert (backup_dir / "manifest.json").exists()

    own_stack.stop()
    wipe(own_stack)
    restored = run_backup_command(own_stack, "restore", "--from", str(backup_dir))
    assert restored.returncode == 0, restored.stderr
    after = snapshot(own_stack)  # before any service starts and touches it
    assert after.keys() == before.keys()
    for service in before:
        assert after[service].keys() == before[service].keys(), service
        for table, rows in before[service].items():
            assert after[service][table] == rows, f"{service}.{table}"

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
