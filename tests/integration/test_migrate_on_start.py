"""Every start migrates; a database already at the head is left alone, Alembic not even
loaded, and one behind is brought to the head."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command

from common import migrate_on_start, migrations


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


def test_a_start_with_nothing_to_migrate_loads_neither_sqlalchemy_nor_alembic(
    tmp_path: Path,
) -> None:
    """The services' preparation asks the version table through the DB-API."""
    url = sqlite_url(tmp_path)
    migrations.upgrade("auth", url)
    code = (
        "import sys; from common import migrate_on_start; "
        f"migrate_on_start.migrate('auth', {url!r}); "
        "print(' '.join({m.split('.')[0] for m in sys.modules}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert not set(done.stdout.split()) & {"sqlalchemy", "alembic"}
    assert migrations.current_revision("auth", url) == migrations.head_revision("auth")


def test_a_start_migrates_a_database_behind_the_head_or_new(tmp_path: Path) -> None:
    behind = sqlite_url(tmp_path)
    migrations.upgrade("auth", behind, "auth_0005")
    assert not migrate_on_start.at_head("auth", behind)
    migrate_on_start.migrate("auth", behind)
    assert migrate_on_start.at_head("auth", behind)
    new = f"sqlite:///{tmp_path / 'new.db'}"
    assert not migrate_on_start.at_head("auth", new)
    migrate_on_start.migrate("auth", new)
    assert migrations.current_revision("auth", new) == migrations.head_revision("auth")
