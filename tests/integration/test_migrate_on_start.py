"""Every start migrates; a database already at the head is left alone, Alembic not even
loaded, and one behind is brought to the head: by a child process when a service's main
process starts, so that neither it nor the workers forked from it carry Alembic."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy.exc import OperationalError

from common import migrations, revisions, startup_migration
from common.config import PROJECT_ROOT


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'auth.db'}"


def test_a_database_at_the_head_is_not_handed_to_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url(tmp_path)
    migrations.upgrade("auth", url)

    def refuse(*_args: object) -> None:
        raise AssertionError("Alembic was asked to migrate a database at the head")

    monkeypatch.setattr(command, "upgrade", refuse)
    migrations.upgrade("auth", url)
    assert migrations.current_revision("auth", url) == migrations.head_revision("auth")


def test_a_database_behind_the_head_is_migrated(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    migrations.upgrade("auth", url, "auth_0005")
    migrations.upgrade("auth", url)
    assert migrations.current_revision("auth", url) == migrations.head_revision("auth")


def test_a_new_database_is_migrated(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    migrations.upgrade("auth", url)
    assert migrations.current_revision("auth", url) == migrations.head_revision("auth")


def test_a_start_on_a_new_database_migrates_it_in_a_child_and_loads_no_alembic(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path)
    code = (
        "import os, sys; from common import startup_migration; "
        f"startup_migration.upgrade('auth', {url!r}); "
        "children = [c for t in os.listdir('/proc/self/task') "
        "for c in open(f'/proc/self/task/{t}/children').read().split()]; "
        "print('alembic' in sys.modules, 'sqlalchemy' in sys.modules, len(children))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    # No Alembic, no SQLAlchemy, and no process left behind (a spawned child would have left
    # multiprocessing's resource tracker running).
    assert done.stdout.split() == ["False", "False", "0"]
    assert migrations.current_revision("auth", url) == migrations.head_revision("auth")


def test_a_start_on_a_database_behind_the_head_migrates_it(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    migrations.upgrade("auth", url, "auth_0005")
    assert not revisions.is_at_head("auth", url)
    startup_migration.upgrade("auth", url)
    assert revisions.is_at_head("auth", url)
    assert migrations.current_revision("auth", url) == migrations.head_revision("auth")


def test_a_start_on_a_database_at_the_head_starts_no_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url(tmp_path)
    migrations.upgrade("books", url)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a child was started for a database at the head")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", refuse)
    startup_migration.upgrade("books", url)
    assert revisions.is_at_head("books", url)


def test_a_migration_that_fails_in_the_child_fails_the_start_with_its_error(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'no such directory' / 'auth.db'}"
    with pytest.raises(OperationalError, match="unable to open database file"):
        startup_migration.upgrade("auth", url)
