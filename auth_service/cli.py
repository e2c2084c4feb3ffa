"""Administration commands: ``python -m auth_service.cli create-admin --username NAME``.

The password is read from ESTANTE_ADMIN_PASSWORD or asked for on the terminal (never from the
command line, where it would land in the shell history and the process list).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from pydantic import ValidationError

from auth_service.app import make_hasher, prepare
from auth_service.config import AuthSettings
from auth_service.schemas import RegisterRequest
from common.db import Database
from common.problem_json import field_errors


def create_admin(username: str) -> int:
    password = os.environ.get("ESTANTE_ADMIN_PASSWORD") or getpass.getpass("Password: ")
    try:
        checked = RegisterRequest(username=username, password=password)
    except ValidationError as error:
        for item in field_errors(error):
            print(f"error: {item['message']}", file=sys.stderr)
        return 2
    settings = AuthSettings()
    prepare(settings)
    db = Database(settings.database_url)
    try:
        from auth_service.accounts import ensure_admin

        user = ensure_admin(db, make_hasher(settings), checked.username, checked.password)
    finally:
        db.dispose()
    print(f"{user.username} is an administrator (id {user.id})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auth_service.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    admin = sub.add_parser("create-admin", help="create an administrator, or promote a user")
    admin.add_argument("--username", required=True)
    args = parser.parse_args(argv)
    return create_admin(args.username)


if __name__ == "__main__":
    raise SystemExit(main())
