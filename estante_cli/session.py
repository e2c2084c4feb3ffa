"""``estante login``, ``logout`` and ``whoami``: the session the other commands use."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from estante_cli import output
from estante_cli.context import api
from estante_cli.errors import CliError
from estante_cli.output import examples


def login(
    ctx: typer.Context,
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="Asked for when not given.")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from the first line of standard input (for scripts).",
        ),
    ] = False,
) -> None:
    """Log in, and keep the session for the next commands.

    Only the refresh token is kept (in credentials.json in your config directory, readable by
    you only), never the password. Access tokens are renewed from it when they expire; the
    session lasts until `estante logout` or until the Auth Service ends it.
    """
    if password_stdin and username is None:
        raise typer.BadParameter("--password-stdin needs --username", param_hint="--username")
    if username is None:
        username = typer.prompt("Username")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("no password on standard input")
    else:
        password = typer.prompt("Password", hide_input=True)
    client = api(ctx)
    session = client.login(username, password)
    output.out.print(
        f"Logged in as {session.username} ({', '.join(session.roles) or 'no role'}) "
        f"at {client.auth.base_url}.",
        markup=False,
    )
    output.notice(f"Session saved in {client.store.path}")


def logout(
    ctx: typer.Context,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Only forget the saved session, without telling the Auth Service (when it "
            "cannot be reached; the session then stays valid until it expires).",
        ),
    ] = False,
) -> None:
    """End the session at the Auth Service and delete the saved tokens."""
    client = api(ctx)
    session = client.logout(local_only=local)
    if session is None:
        output.notice(f"Not logged in at {client.auth.base_url}: nothing to do.")
        return
    ended = "forgotten (still valid at the service until it expires)" if local else "ended"
    output.out.print(
        f"Logged out: the session of {session.username} at {client.auth.base_url} is {ended}.",
        markup=False,
    )


def whoami(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the user as JSON.")] = False,
) -> None:
    """Who you are logged in as (asks the Auth Service, so it also checks the session)."""
    client = api(ctx)
    user = client.authorized(client.auth, "GET", "/me").json()
    if as_json:
        output.print_json(user)
        return
    roles = ", ".join(user.get("roles", [])) or "no role"
    output.out.print(f"{user['username']} ({roles}) at {client.auth.base_url}", markup=False)


LOGIN_EPILOG = examples(
    "estante login",
    "estante login --username alice",
    "printf '%s\\n' \"$ESTANTE_PASSWORD\" | estante login -u alice --password-stdin",
    "estante --auth-url https://auth.example.org login -u alice",
)


def register(app: typer.Typer) -> None:
    app.command(epilog=LOGIN_EPILOG)(login)
    app.command(epilog=examples("estante logout", "estante logout --local"))(logout)
    app.command(epilog=examples("estante whoami", "estante whoami --json"))(whoami)
