"""A service's newest migration, read from its migration scripts without Alembic.

Readiness (``/readyz``) compares the database's revision with the newest script's. Alembic
would answer that too, but importing it costs every worker several megabytes it never uses
again: the scripts are run before any worker starts, by the child process that prepares a
service's start (:mod:`common.server`), and only when the database is behind. Each script names
its ``revision`` and the ``down_revision`` it follows as plain literals, which is all that is
read here; the head is the revision no other follows. A test checks that this answers what
Alembic does. :func:`is_at_head` reads a database's revision with the DB-API, to tell whether a
start has anything to migrate.
"""

from __future__ import annotations

import ast
from pathlib import Path

from common.dbapi import DbApiDatabase

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def _literals(script: Path) -> dict[str, object]:
    """The module-level ``revision`` and ``down_revision`` of a migration script."""
    found: dict[str, object] = {}
    for node in ast.parse(script.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                    if node.value is None:
                        raise ValueError(f"{script}: {target.id} has no value")
                    found[target.id] = ast.literal_eval(node.value)
    return found


def head_revision(service: str, directory: Path = MIGRATIONS_DIR) -> str | None:
    """The one revision of ``service``'s scripts that no other follows (None without scripts).
    Several heads (two branches never merged) are an error, as they are to Alembic."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for script in sorted((directory / service / "versions").glob("*.py")):
        literals = _literals(script)
        if "revision" not in literals:
            continue
        revisions.add(str(literals["revision"]))
        down = literals.get("down_revision")
        if isinstance(down, str):
            followed.add(down)
        elif isinstance(down, tuple | list):
            followed.update(str(item) for item in down)
    heads = revisions - followed
    if len(heads) > 1:
        raise ValueError(f"{service}: several migration heads ({', '.join(sorted(heads))})")
    return next(iter(heads), None)


def is_at_head(service: str, database_url: str) -> bool:
    """Whether the database holds exactly the newest revision of ``service``'s scripts."""
    db = DbApiDatabase(database_url)
    try:
        return db.revision(version_table(service)) == head_revision(service)
    except db.driver.Error:  # no version table yet (a new database), or none to read it from
        return False
    finally:
        db.dispose()
