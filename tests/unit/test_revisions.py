"""The newest migration as readiness reads it, without Alembic, is the one Alembic names."""

from __future__ import annotations

from pathlib import Path

import pytest

from common import migrations, revisions


@pytest.mark.parametrize("service", ["auth", "books", "web"])
def test_the_head_read_from_the_scripts_is_alembics_head(service: str) -> None:
    assert revisions.head_revision(service) == migrations.head_revision(service)


def write_script(directory: Path, name: str, revision: str, down: str) -> None:
    (directory / name).write_text(
        f'"""{revision}"""\n\nrevision = "{revision}"\ndown_revision = {down}\n'
        "branch_labels = None\n",
        encoding="utf-8",
    )


def test_the_head_is_the_revision_no_other_follows_whatever_the_file_names(
    tmp_path: Path,
) -> None:
    versions = tmp_path / "svc" / "versions"
    versions.mkdir(parents=True)
    write_script(versions, "b_first.py", "svc_0001", "None")
    write_script(versions, "a_third.py", "svc_0003", '"svc_0002"')
    write_script(versions, "c_second.py", "svc_0002", '"svc_0001"')
    assert revisions.head_revision("svc", tmp_path) == "svc_0003"


def test_a_merge_revision_following_two_branches_is_the_head(tmp_path: Path) -> None:
    versions = tmp_path / "svc" / "versions"
    versions.mkdir(parents=True)
    write_script(versions, "1.py", "base", "None")
    write_script(versions, "2.py", "left", '"base"')
    write_script(versions, "3.py", "right", '"base"')
    write_script(versions, "4.py", "merged", '("left", "right")')
    assert revisions.head_revision("svc", tmp_path) == "merged"


def test_two_unmerged_branches_are_refused(tmp_path: Path) -> None:
    versions = tmp_path / "svc" / "versions"
    versions.mkdir(parents=True)
    write_script(versions, "1.py", "base", "None")
    write_script(versions, "2.py", "left", '"base"')
    write_script(versions, "3.py", "right", '"base"')
    with pytest.raises(ValueError, match="several migration heads"):
        revisions.head_revision("svc", tmp_path)


def test_a_service_without_scripts_has_no_head(tmp_path: Path) -> None:
    assert revisions.head_revision("none", tmp_path) is None
