"""Administration commands: ``python -m auth_service.cli create-admin --username NAME``, and
``python -m auth_service.cli confusable-users`` (accounts whose names read alike).

The password is read from ESTANTE_ADMIN_PASSWORD or asked for on the terminal (never from the
command line, where it would land in the shell history and the process list).

An existing account is refused unless ``--promote`` is given: whoever registered the name first
may be a stranger, and promoting their account hands them the admin role. With ``--promote``
the account becomes an enabled administrator with the new password, and every session and
access token it had is revoked.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError

from auth_service.config import AuthSettings
from auth_service.preparation import make_hasher, prepare
from auth_service.schemas import RegisterRequest
from common.config import ConfigError
from common.db import Database
from common.problem_json import field_errors


class CommandFailed(Exception):
    """A command's error, already said on stderr; carries the exit status."""

    def __init__(self, status: int) -> None:
        self.status = status


@contextmanager
def prepared_database() -> Iterator[tuple[AuthSettings, Database]]:
    """The settings and the auth database, migrated; a configuration error is said on stderr
    and ends the command with status 2."""
    settings = AuthSettings()
    try:
        prepare(settings)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise CommandFailed(2) from None
    db = Database(settings.database_url)
    try:
        yield settings, db
    finally:
        db.dispose()


def create_admin(username: str, *, promote: bool = False) -> int:
    password = os.environ.get("ESTANTE_ADMIN_PASSWORD") or getpass.getpass("Password: ")
    try:
        checked = RegisterRequest(username=username, password=password)
    except ValidationError as error:
        for item in field_errors(error):
            print(f"error: {item['message']}", file=sys.stderr)
        return 2
    from auth_service.accounts import AccountExists, UsernameLookalike, ensure_admin

    try:
        with prepared_database() as (settings, db):
            user = ensure_admin(
                db, make_hasher(settings), checked.username, checked.password, promote=promote
            )
    except CommandFailed as failed:
        return failed.status
    except AccountExists:
        print(
            f"error: an account named '{checked.username}' exists already; nothing was "
            "changed. To make it an administrator with this password (its sessions and "
            "tokens end), run the command again with --promote.",
            file=sys.stderr,
        )
        return 1
    except UsernameLookalike as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 1
    revoked = "; any earlier sessions and tokens of it are revoked" if promote else ""
    print(f"{user.username} is an administrator (id {user.id}){revoked}")
    return 0


def confusable_users(*, update_skeletons: bool = False) -> int:
    """List the accounts whose names read alike (:mod:`auth_service.confusable_users`)."""
    from auth_service import confusable_users as report

    try:
        with prepared_database() as (_, db):
            return report.run(db, update_skeletons=update_skeletons)
    except CommandFailed as failed:
        return failed.status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auth_service.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    admin = sub.add_parser("create-admin", help="create an administrator, or promote a user")
    admin.add_argument("--username", required=True)
    admin.add_argument(
        "--promote",
        action="store_true",
        help="if the account exists, make it an administrator with the new password and "
        "revoke all its sessions (without this flag an existing account is refused)",
    )
    lookalikes = sub.add_parser(
        "confusable-users",
        help="list accounts whose names read alike (exit status 1 if any); changes no account",
    )
    lookalikes.add_argument(
        "--update-skeletons",
        action="store_true",
        help="also store the freshly computed skeletons where the stored ones are missing or "
        "outdated (names are never changed)",
    )
    args = parser.parse_args(argv)
    if args.command == "confusable-users":
        return confusable_users(update_skeletons=args.update_skeletons)
    return create_admin(args.username, promote=args.promote)


if __name__ == "__main__":
    raise SystemExit(main())
