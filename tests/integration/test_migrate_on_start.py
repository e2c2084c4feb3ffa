"""Every start migrates; a database already at the head is left alone, Alembic not even
loaded, and one behind is brought to the head. (Where a start migrates, in the child that
prepares it: tests/integration/test_service_start.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command

from common import migrations


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
