"""Back up and restore both services' data: ``make backup`` / ``make restore BACKUP_DIR=…``.

SQLite is copied with its online backup API (consistent while the services run); PostgreSQL
with ``pg_dump``/``pg_restore`` (custom format). The signing keys are copied too, so a restored
instance keeps verifying the tokens it issued. Restore replaces the current data: stop the
services first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from auth_service.config import AuthSettings
from books_service.config import BooksSettings
from common import migrations
from common.config import ConfigError
from common.db import is_sqlite, normalise_url


def tool(name: str) -> str:
    """The PostgreSQL client program's full path (from the PostgreSQL client package)."""
    path = shutil.which(name)
    if path is None:
        raise OSError(f"{name} not found: install the PostgreSQL client tools")
    return path


def database_urls() -> dict[str, str]:
    return {"auth": AuthSettings().database_url, "books": BooksSettings().database_url}


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database:
        raise SystemExit(f"not a SQLite file: {url}")
    return Path(database)


def libpq_url(url: str) -> str:
    """The URL as pg_dump understands it (no SQLAlchemy driver suffix), without the password:
    a command line is visible to every user of the machine (see :func:`libpq_environment`)."""
    return (
        make_url(normalise_url(url))
        .set(drivername="postgresql", password=None)
        .render_as_string(hide_password=False)
    )


def libpq_environment(url: str) -> dict[str, str]:
    """The environment for pg_dump/pg_restore, with the URL's password in PGPASSWORD."""
    password = make_url(normalise_url(url)).password
    environment = dict(os.environ)
    if password is not None:
        environment["PGPASSWORD"] = str(password)
    return environment


def copy_sqlite(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    target.chmod(0o600)


def backup(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    services: dict[str, dict[str, str | None]] = {}
    manifest = {"created_at": datetime.now(UTC).isoformat(), "services": services}
    for service, url in database_urls().items():
        if is_sqlite(url):
            copy_sqlite(sqlite_path(url), directory / f"{service}.db")
            kind = "sqlite"
        else:
            target = directory / f"{service}.dump"
            subprocess.run(  # noqa: S603
                [
                    tool("pg_dump"),
                    "--format=custom",
                    "--no-owner",
                    f"--file={target}",
                    libpq_url(url),
                ],
                check=True,
                env=libpq_environment(url),
            )
            kind = "postgresql"
        services[service] = {
            "kind": kind,
            "revision": migrations.current_revision(service, url),
        }
        print(f"backed up {service} ({kind})")
    keys = AuthSettings().signing_keys_dir
    if keys.is_dir():
        shutil.copytree(keys, directory / "keys", dirs_exist_ok=True)
        print("backed up the signing keys")
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"backup written to {directory}")


def restore(directory: Path) -> None:
    manifest = json.loads((directory / "manifest.json").read_text())
    for service, url in database_urls().items():
        kind = manifest["services"][service]["kind"]
        if kind == "sqlite":
            if not is_sqlite(url):
                raise SystemExit(f"{service}: the backup is SQLite but the database is not")
            live = sqlite_path(url)
            for suffix in ("-wal", "-shm"):  # stale journals would be replayed over the copy
                Path(f"{live}{suffix}").unlink(missing_ok=True)
            copy_sqlite(directory / f"{service}.db", live)
        else:
            if is_sqlite(url):
                raise SystemExit(f"{service}: the backup is PostgreSQL but the database is not")
            subprocess.run(  # noqa: S603
                [
                    tool("pg_restore"),
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    f"--dbname={libpq_url(url)}",
                    str(directory / f"{service}.dump"),
                ],
                check=True,
                env=libpq_environment(url),
            )
        print(f"restored {service} ({kind})")
    keys_backup = directory / "keys"
    if keys_backup.is_dir():
        keys = AuthSettings().signing_keys_dir
        keys.mkdir(parents=True, exist_ok=True, mode=0o700)
        for key in keys_backup.glob("*.pem"):
            if not (keys / key.name).exists():
                shutil.copy2(key, keys / key.name)
                (keys / key.name).chmod(0o600)
        print("restored the signing keys")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.backup")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("backup", help="copy both databases and the keys").add_argument(
        "--to", type=Path, required=True
    )
    sub.add_parser("restore", help="replace both databases from a backup").add_argument(
        "--from", dest="source", type=Path, required=True
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "backup":
            backup(args.to)
        else:
            restore(args.source)
    except (ConfigError, OSError, subprocess.CalledProcessError, KeyError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
