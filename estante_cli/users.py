"""``estante users``: the administrators' view of accounts (the Auth Service's /admin/users)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from estante_cli import output, paging
from estante_cli.client import Api
from estante_cli.context import api
from estante_cli.errors import ApiProblem, CliError
from estante_cli.output import examples

app = typer.Typer(
    help="List and manage user accounts (administrators only).",
    epilog=examples(
        "estante users list",
        "estante users role alice reader",
        "estante users disable bob",
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

PAGE_SIZE = 500
UserRef = Annotated[
    str, typer.Argument(help="The user's id or username.", show_default=False, metavar="USER")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class Role(StrEnum):
    admin = "admin"
    librarian = "librarian"
    reader = "reader"


@app.command("list", epilog=examples("estante users list", "estante users list --json"))
def list_users(
    ctx: typer.Context,
    limit: Annotated[int | None, typer.Option(min=1, help="Show at most this many.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every user, oldest first."""
    client = api(ctx)
    listing = _read(client, limit)
    if as_json:
        output.print_json(listing.items)
        return
    output.table(
        ("ID", "Username", "Roles", "Disabled", "Created", "Last login"),
        (
            (u["id"], u["username"], u["roles"], u["disabled"], u["created_at"], u["last_login_at"])
            for u in listing.items
        ),
    )
    total = listing.total if listing.total is not None else len(listing.items)
    output.notice(f"{len(listing.items)} of {total} users")


@app.command(epilog=examples("estante users show 3", "estante users show alice --json"))
def show(ctx: typer.Context, user: UserRef, as_json: JsonFlag = False) -> None:
    """One user: roles, state, when created and last logged in."""
    client = api(ctx)
    _print(_admin(client, "GET", f"/admin/users/{_user_id(client, user)}"), as_json)


@app.command(
    epilog=examples("estante users role alice reader", "estante users role 3 librarian"),
)
def role(
    ctx: typer.Context,
    user: UserRef,
    new_role: Annotated[Role, typer.Argument(metavar="ROLE", help="admin, librarian or reader.")],
    as_json: JsonFlag = False,
) -> None:
    """Give a user a role. Tokens they already hold keep the old role until they expire."""
    _patch(ctx, user, {"roles": [new_role.value]}, as_json)


@app.command(epilog=examples("estante users disable alice"))
def disable(ctx: typer.Context, user: UserRef, as_json: JsonFlag = False) -> None:
    """Disable a user: they cannot log in, and their sessions end at once."""
    _patch(ctx, user, {"disabled": True}, as_json)


@app.command(epilog=examples("estante users enable alice"))
def enable(ctx: typer.Context, user: UserRef, as_json: JsonFlag = False) -> None:
    """Let a disabled user log in again."""
    _patch(ctx, user, {"disabled": False}, as_json)


def _patch(ctx: typer.Context, user: str, change: dict[str, Any], as_json: bool) -> None:
    client = api(ctx)
    updated = _admin(client, "PATCH", f"/admin/users/{_user_id(client, user)}", json=change)
    _print(updated, as_json)


def _print(user: dict[str, Any], as_json: bool) -> None:
    if as_json:
        output.print_json(user)
        return
    output.fields(
        [
            ("ID", user.get("id")),
            ("Username", user.get("username")),
            ("Roles", user.get("roles")),
            ("Disabled", user.get("disabled")),
            ("Created", user.get("created_at")),
            ("Last login", user.get("last_login_at")),
        ]
    )


def _admin(client: Api, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    try:
        body = client.authorized(client.auth, method, path, **kwargs).json()
    except ApiProblem as problem:
        if problem.status == 403:
            problem.message += " (user administration needs the admin role)"
        raise
    if not isinstance(body, dict):
        raise CliError("the Auth Service answered with an unexpected user resource")
    return body


def _read(client: Api, limit: int | None) -> paging.Listing:
    def fetch(url: str, query: dict[str, Any]) -> Any:
        try:
            return client.authorized(client.auth, "GET", url, params=query)
        except ApiProblem as problem:
            if problem.status == 403:
                problem.message += " (user administration needs the admin role)"
            raise

    return paging.read(fetch, "/admin/users", {}, limit=limit, page_size=PAGE_SIZE)


def _user_id(client: Api, user: str) -> int:
    """An id as given, or the id of the user with this name (case does not matter)."""
    if user.isdigit():
        return int(user)
    wanted = user.casefold()
    for item in _read(client, None).items:
        if str(item.get("username", "")).casefold() == wanted:
            return int(item["id"])
    raise CliError(f"no user named {user!r}")
