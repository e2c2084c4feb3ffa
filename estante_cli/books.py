"""``estante books``: search, show, add, edit and delete books."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from estante_cli import output, paging
from estante_cli.book_fields import FileOption, from_options, read_json_file, with_book_fields
from estante_cli.context import api
from estante_cli.errors import ApiProblem, CliError
from estante_cli.options import filter_params, with_filters
from estante_cli.output import examples

app = typer.Typer(
    help="Search, show, add, edit and delete books. Reading is public; writing needs "
    "`estante login` as a librarian or administrator.",
    epilog=examples(
        "estante books search --author 'Machado de Assis'",
        "estante books show 12",
        "estante books add --title 'Dom Casmurro' --author 'Machado de Assis'",
        "estante books edit 12 --copies 2",
        "estante books delete 12",
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

MAX_PAGE = 500
BookId = Annotated[
    int, typer.Argument(help="The book's id.", min=1, show_default=False, metavar="ID")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
IfMatch = Annotated[
    str | None,
    typer.Option(
        "--if-match",
        help='Only if the book is still at this ETag (as `books show` prints it, e.g. "12-3"); '
        "default: the version read just before.",
    ),
]


@app.command(
    epilog=examples(
        "estante books search 'dom casmurro'",
        "estante books search --author 'Machado de Assis' --sort published_year",
        "estante books search --subject Romance --language pt --year-from 1850 --year-to 1900",
        "estante books search --all --json > catalog.json",
    )
)
@with_filters
def search(
    ctx: typer.Context,
    query: Annotated[
        str | None,
        typer.Argument(help="Words to look for in titles, authors, subjects, ISBNs and more."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many books to show at most.")] = 20,
    all_books: Annotated[
        bool, typer.Option("--all", help="Every matching book, however many.")
    ] = False,
    as_json: JsonFlag = False,
    **filters: Any,
) -> None:
    """Search the catalog (no login needed). Without words or filters: every book, oldest first."""
    client = api(ctx)
    listing = paging.read(
        lambda url, params: client.books.request("GET", url, params=params),
        "/books",
        filter_params(filters, query),
        limit=None if all_books else limit,
        page_size=MAX_PAGE,
    )
    if as_json:
        output.print_json(listing.items)
        return
    output.table(
        ("ID", "Title", "Author", "Year", "ISBN"),
        (
            (book["id"], _full_title(book), book["author"], book["published_year"], book["isbn"])
            for book in listing.items
        ),
    )
    total = listing.total if listing.total is not None else len(listing.items)
    more = "" if total <= len(listing.items) else " (--limit N or --all for more)"
    output.notice(f"{len(listing.items)} of {total} books{more}")


@app.command(
    epilog=examples(
        "estante books show 12",
        "estante books show 12 --history",
        "estante books show 12 --json | jq .version",
    )
)
def show(
    ctx: typer.Context,
    book_id: BookId,
    history: Annotated[
        bool, typer.Option("--history", help="Also list every change: who, when, what.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show one book in full, with its ETag (for `books edit --if-match`)."""
    client = api(ctx)
    response = client.books.request("GET", f"/books/{book_id}")
    book = response.json()
    changes = _history(client, book_id) if history else None
    if as_json:
        output.print_json({**book, "history": changes} if history else book)
        return
    output.fields(_book_rows(book, response.headers.get("ETag")), title=_full_title(book))
    if changes is not None:
        output.table(
            ("Version", "When", "Who", "Action", "Changes"),
            (
                (c["version"], c["changed_at"], c["changed_by"], _action(c), _changes(c))
                for c in changes
            ),
            title="History",
        )


@app.command(
    epilog=examples(
        "estante books add --title 'Dom Casmurro' --author 'Machado de Assis' --year 1899",
        "estante books add --title 'Good Omens' --author 'Terry Pratchett' "
        "--author 'Neil Gaiman' --isbn 978-0-06-085398-3 --subject Fantasy",
        "estante books add --file book.json --copies 2",
    )
)
@with_book_fields
def add(
    ctx: typer.Context,
    file: FileOption = None,
    allow_duplicate: Annotated[
        bool,
        typer.Option(
            "--allow-duplicate",
            help="Add it even if a book with the same title and author exists.",
        ),
    ] = False,
    as_json: JsonFlag = False,
    **fields: Any,
) -> None:
    """Add a book: at least a title and an author."""
    book = {**(read_json_file(file) if file else {}), **from_options(fields)}
    client = api(ctx)
    params = {"allow_duplicate": "true"} if allow_duplicate else {}
    try:
        added = client.authorized(client.books, "POST", "/books", json=book, params=params).json()
    except ApiProblem as problem:
        raise _explained(problem) from None
    if as_json:
        output.print_json(added)
        return
    output.out.print(f"Added book {added['id']}: {_described(added)}", markup=False)


@app.command(
    epilog=examples(
        "estante books edit 12 --copies 3",
        "estante books edit 12 --subject Romance --subject 'Literatura brasileira'",
        "estante books edit 12 --clear series --clear series_index",
        "estante books edit 12 --file changes.json --if-match '\"12-4\"'",
    )
)
@with_book_fields
def edit(
    ctx: typer.Context,
    book_id: BookId,
    file: FileOption = None,
    clear: Annotated[
        list[str] | None,
        typer.Option(help="Remove this field's value (repeat for several), e.g. subtitle."),
    ] = None,
    if_match: IfMatch = None,
    allow_duplicate: Annotated[
        bool,
        typer.Option(
            "--allow-duplicate",
            help="Save it even if another book has the same title and author.",
        ),
    ] = False,
    as_json: JsonFlag = False,
    **fields: Any,
) -> None:
    """Change some fields of a book; the others stay as they are.

    The change is sent with the book's ETag (If-Match), so it never overwrites a change
    someone else made since: that is refused (412) and nothing changes.
    """
    patch: dict[str, Any] = {name: None for name in clear or []}
    patch.update(read_json_file(file) if file else {})
    patch.update(from_options(fields))
    if not patch:
        raise typer.BadParameter("nothing to change: give field options, --file or --clear")
    client = api(ctx)
    etag = if_match or _current_etag(client, book_id)
    params = {"allow_duplicate": "true"} if allow_duplicate else {}
    try:
        changed = client.authorized(
            client.books,
            "PATCH",
            f"/books/{book_id}",
            json=patch,
            params=params,
            headers={"If-Match": _quoted(etag), "Content-Type": "application/merge-patch+json"},
        ).json()
    except ApiProblem as problem:
        raise _explained(problem, book_id) from None
    if as_json:
        output.print_json(changed)
        return
    output.out.print(
        f"Changed book {book_id} (now version {changed['version']}): {_described(changed)}",
        markup=False,
    )


@app.command(
    epilog=examples("estante books delete 12", "estante books delete 12 --yes"),
)
def delete(
    ctx: typer.Context,
    book_id: BookId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    if_match: IfMatch = None,
) -> None:
    """Delete a book (an administrator can restore it). Asks first unless --yes."""
    client = api(ctx)
    response = client.books.request("GET", f"/books/{book_id}")
    book = response.json()
    if not yes and not typer.confirm(f"Delete book {book_id}: {_described(book)}?", err=True):
        raise CliError("not deleted")
    etag = if_match or response.headers.get("ETag")
    headers = {"If-Match": _quoted(etag)} if etag else {}
    try:
        client.authorized(client.books, "DELETE", f"/books/{book_id}", headers=headers)
    except ApiProblem as problem:
        raise _explained(problem, book_id) from None
    output.out.print(f"Deleted book {book_id}: {_described(book)}", markup=False)


def _current_etag(client: Any, book_id: int) -> str:
    response = client.books.request("GET", f"/books/{book_id}")
    etag = response.headers.get("ETag")
    if not etag:
        raise CliError(f"the Books Service sent no ETag for book {book_id}")
    return str(etag)


def _quoted(etag: str) -> str:
    """ETags are quoted strings; a user may type one without its quotes."""
    etag = etag.strip()
    return etag if etag.startswith(('"', "W/")) or etag == "*" else f'"{etag}"'


def _explained(problem: ApiProblem, book_id: int | None = None) -> CliError:
    """The problem, with what to do about it when the service's words do not say it."""
    if problem.status == 412 and book_id is not None:
        problem.message += f" (`estante books show {book_id}` shows it as it is now)"
    elif problem.status == 409 and problem.body.get("existing_id") is not None:
        problem.message += f" (`estante books show {problem.body['existing_id']}`)"
    elif problem.status == 403:
        problem.message += " (writing books needs the librarian or admin role)"
    return problem


def _history(client: Any, book_id: int) -> list[dict[str, Any]]:
    return paging.read(
        lambda url, query: client.books.request("GET", url, params=query),
        f"/books/{book_id}/history",
        {},
        limit=None,
        page_size=MAX_PAGE,
    ).items


def _full_title(book: dict[str, Any]) -> str:
    return f"{book['title']}: {book['subtitle']}" if book.get("subtitle") else str(book["title"])


def _described(book: dict[str, Any]) -> str:
    return f"“{_full_title(book)}” by {book.get('author', '?')}"


BOOK_ROWS = (
    ("id", "ID"),
    ("title", "Title"),
    ("subtitle", "Subtitle"),
    ("authors", "Authors"),
    ("isbn", "ISBN"),
    ("isbn_10", "ISBN-10"),
    ("publisher", "Publisher"),
    ("published_date", "Published"),
    ("published_year", "Year"),
    ("language", "Language"),
    ("page_count", "Pages"),
    ("subjects", "Subjects"),
    ("series", "Series"),
    ("series_index", "Number in series"),
    ("copies", "Copies"),
    ("cover_url", "Cover"),
    ("description", "Description"),
    ("created_at", "Added"),
    ("created_by", "Added by"),
    ("updated_at", "Changed"),
    ("updated_by", "Changed by"),
    ("version", "Version"),
)


def _book_rows(book: dict[str, Any], etag: str | None) -> list[tuple[str, Any]]:
    rows = [(label, book[name]) for name, label in BOOK_ROWS if book.get(name) not in (None, [])]
    return [*rows, ("ETag", etag)] if etag else rows


def _action(entry: dict[str, Any]) -> str:
    """The action, and the import, file and row it came from when an import made it."""
    origin = entry.get("origin")
    if not isinstance(origin, dict) or origin.get("import") is None:
        return str(entry["action"])
    return (
        f"{entry['action']} by import {origin['import']} "
        f"({origin.get('file', '?')}, row {origin.get('row', '?')})"
    )


def _changes(entry: dict[str, Any]) -> str:
    return "; ".join(
        f"{name}: {_short(change.get('from'))} → {_short(change.get('to'))}"
        for name, change in entry.get("changes", {}).items()
    )


def _short(value: Any, width: int = 40) -> str:
    if value is None:
        return "(none)"
    text = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
