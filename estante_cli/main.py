"""The ``estante`` command: global options, the command tree, and the one place where errors
become a line on stderr and an exit status."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from typer.core import TyperGroup

from estante_cli import __version__, books, export, imports, output, session, users
from estante_cli.context import State
from estante_cli.credentials import default_config_dir
from estante_cli.errors import EXIT_INTERRUPTED, CliError

DEFAULT_AUTH_URL = "http://127.0.0.1:5001"
DEFAULT_BOOKS_URL = "http://127.0.0.1:5002"


class EstanteGroup(TyperGroup):
    """The root command: any :class:`CliError` of any subcommand is reported here as one line,
    never as a traceback."""

    def invoke(self, ctx: Any) -> Any:  # Click's Context (typer vendors its own Click)
        try:
            return super().invoke(ctx)
        except CliError as problem:
            output.error(problem.message)
            ctx.exit(problem.exit_code)
        except KeyboardInterrupt:
            output.error("interrupted")
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (`estante ... | head`): nothing more to say, to anyone.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except OSError as problem:  # a file that cannot be read or written
            where = f"{problem.filename}: " if problem.filename else ""
            output.error(f"{where}{problem.strerror or problem}")
            ctx.exit(1)


def service_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise typer.BadParameter(f"{value!r} is not an http:// or https:// URL")
    return value.rstrip("/")


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"estante {__version__}")
        raise typer.Exit()


app = typer.Typer(
    cls=EstanteGroup,
    name="estante",
    help="The Estante catalog from your terminal: log in, search and edit books, import and "
    "export whole catalogs, administer users. Talks to the Auth and Books services over HTTP.",
    epilog="[bold]Examples[/bold]\n\n"
    "estante login\n"
    "estante books search 'machado de assis'\n"
    "estante import goodreads_library_export.csv --dry-run\n"
    "estante export --format estante-jsonl -o catalog.jsonl\n"
    "estante --books-url https://books.example.org books show 12\n\n"
    "Every command has its own --help. Exit status: 0 success, 1 refused or rows rejected, "
    "2 usage error, 3 service not reachable, 4 not logged in, 130 interrupted.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


@app.callback()
def global_options(
    ctx: typer.Context,
    auth_url: Annotated[
        str,
        typer.Option(
            envvar="ESTANTE_AUTH_URL", callback=service_url, help="The Auth Service's base URL."
        ),
    ] = DEFAULT_AUTH_URL,
    books_url: Annotated[
        str,
        typer.Option(
            envvar="ESTANTE_BOOKS_URL", callback=service_url, help="The Books Service's base URL."
        ),
    ] = DEFAULT_BOOKS_URL,
    timeout: Annotated[
        float,
        typer.Option(
            envvar="ESTANTE_TIMEOUT",
            min=1,
            help="Seconds to wait for a service to connect or to send the next bytes.",
        ),
    ] = 30.0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = State(auth_url, books_url, timeout, default_config_dir())


session.register(app)
app.add_typer(books.app, name="books")
app.add_typer(users.app, name="users")
imports.register(app)
export.register(app)


def main() -> None:
    """The console script."""
    app(prog_name="estante")
