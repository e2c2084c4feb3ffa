"""Reading many books: filters, sort orders, search and pages, with SQLAlchemy Core (no ORM
objects on the hottest path). No HTTP here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Select, false, func, literal, select
from sqlalchemy.orm import Session

from books_service import broad_search, counts, search
from books_service.models import Book, BookAuthor, BookSubject
from books_service.records import fold
from books_service.representation import COLUMNS, DELETED_COLUMNS, book_json
from common.pagination import Cursor, Order, Page, SortKey, read_page, read_tiered_page

_book = Book.__table__.c
_ID = SortKey(_book.id, "int")
# The public sort names and what they order by; each is also offered descending ("-title").
SORT_KEYS: dict[str, SortKey] = {
    "title": SortKey(_book.title_key, "str"),
    "author": SortKey(_book.author_key, "str"),
    "published_year": SortKey(_book.year_sort, "int"),
    "created_at": SortKey(_book.created_at, "datetime"),
    "updated_at": SortKey(_book.updated_at, "datetime"),
}
SORTS = (*SORT_KEYS, "id")
DELETED_ORDER = Order("deleted", (SortKey(_book.deleted_at, "datetime"), _ID), descending=True)


@dataclass(frozen=True)
class Filters:
    """What ``GET /books`` narrows by; every text is compared folded (no case, no accents)."""

    author: str | None = None
    isbn: str | None = None  # already the normalised ISBN-13
    language: str | None = None  # already the normalised code
    subject: str | None = None
    publisher: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    q: str | None = None

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Filters:
        """The filters among ``values`` (a query's fields); the rest is left out."""
        return cls(**{f.name: values.get(f.name) for f in fields(cls)})

    @property
    def narrows(self) -> bool:
        """Whether anything besides the search narrows the list."""
        return any(
            value is not None
            for value in (
                self.author,
                self.isbn,
                self.language,
                self.subject,
                self.publisher,
                self.year_from,
                self.year_to,
            )
        )


@dataclass
class BookPage:
    books: list[dict[str, Any]]
    total: int
    page: Page
    estimated: bool = False  # total is PostgreSQL's estimate (a broad search), not a count


def order_for(sort: str | None, *, searching: bool) -> Order:
    """``sort`` ("title", "-published_year", "relevance"...) as a complete order with the id as
    tie-breaker; by default relevance when searching, else the id (the order books were added).
    Relevance is the search tier (see :mod:`books_service.search`), best first."""
    name = sort or ("relevance" if searching else "id")
    descending = name.startswith("-")
    field = name.removeprefix("-")
    if field == "relevance":
        # Each database reads its tiers its own way (read_tiered_page, ranked_page); this
        # order only says what a cursor holds: (tier, id).
        return Order(name, (SortKey(literal(0), "int"), _ID))
    if field == "id":
        return Order(name, (_ID,), descending)
    return Order(name, (SORT_KEYS[field], _ID), descending)


def narrowed(filters: Filters) -> Select:
    """The live books matching ``filters`` apart from the search (selecting nothing yet); the
    export narrows by it too, so a file holds exactly what the listing shows."""
    statement = select().select_from(Book.__table__).where(_book.deleted_at.is_(None))
    if filters.author:
        # "IN (subquery)" rather than EXISTS: both databases then start from the name's index.
        statement = statement.where(
            _book.id.in_(
                select(BookAuthor.book_id).where(BookAuthor.name_key == fold(filters.author))
            )
        )
    if filters.subject:
        statement = statement.where(
            _book.id.in_(
                select(BookSubject.book_id).where(BookSubject.subject_key == fold(filters.subject))
            )
        )
    if filters.isbn:
        statement = statement.where(_book.isbn == filters.isbn)
    if filters.language:
        statement = statement.where(_book.language == filters.language)
    if filters.publisher:
        statement = statement.where(_book.publisher_key == fold(filters.publisher))
    if filters.year_from is not None:
        statement = statement.where(_book.published_year >= filters.year_from)
    if filters.year_to is not None:
        statement = statement.where(_book.published_year <= filters.year_to)
    return statement


def list_books(
    session: Session,
    filters: Filters,
    *,
    sort: str | None,
    limit: int,
    cursor: str | None,
    count: bool = True,
    exact_up_to: int = broad_search.EXACT_UP_TO,
) -> BookPage:
    """A page of the live books matching ``filters``, and how many match in all (0 without
    ``count``: an export reading page after page needs no total). On PostgreSQL a search matching
    more than ``exact_up_to`` books is broad: estimated and ranked by windows (see
    :mod:`books_service.broad_search`)."""
    statement = narrowed(filters)
    words = tuple(search.terms(filters.q)) if filters.q else ()
    found = search.Search(session.get_bind().dialect.name, words) if words else None
    if filters.q and not words:
        # Only punctuation, symbols or emoji: there is nothing to look for, so nothing is found.
        statement = statement.where(false())
    if sort == "relevance" and found is None:
        sort = None  # nothing to rank: the default order
    order = order_for(sort, searching=found is not None)
    postgres_search = found is not None and found.dialect == "postgresql"
    position = None
    if cursor:
        relevance = postgres_search and order.name == "relevance"
        position = broad_search.decode(cursor, order) if relevance else Cursor.decode(cursor, order)

    def fetch(query: Select) -> list[Any]:
        return list(session.execute(query).all())

    def matching() -> Select:
        return statement.where(found.condition(_book.id)) if found else statement

    if found and order.name == "relevance" and found.dialect == "sqlite":

        def tier_statement(tier: int) -> tuple[Select, Any]:
            # Joined to the search index and read in its rowid order from the position: SQLite
            # then stops at the page's end instead of reading every match.
            in_tier = found.sqlite_tier(tier)
            joined = statement.add_columns(*COLUMNS).join(in_tier, in_tier.c.book_id == _book.id)
            return joined, in_tier.c.book_id

        page = read_tiered_page(search.TIERS, tier_statement, order, position, limit, fetch)
    elif found and order.name == "relevance":
        walking_windows = broad_search.windowed(position)
        broad = None
        if position is None or walking_windows:
            broad = broad_search.estimate(session, matching(), exact_up_to)
        if broad is None and not walking_windows:
            page, total = ranked_page(matching(), found, position, limit, fetch)
            if total is not None:
                return BookPage([book_json(row._mapping) for row in page.rows], total, page)
        else:
            ids = broad_search.windowed_page(
                session, matching(), found, position, broad or 0, limit, fetch
            )
            page = books_of(ids, fetch)
            if broad is not None:
                return BookPage([book_json(row._mapping) for row in page.rows], broad, page, True)
    else:
        page = read_page(matching().add_columns(*COLUMNS), order, position, limit, fetch)

    if not count:
        total = 0
    elif postgres_search and (broad := broad_search.estimate(session, matching(), exact_up_to)):
        return BookPage([book_json(row._mapping) for row in page.rows], broad, page, True)
    elif not filters.q and not filters.narrows:
        total = counts.live_books(session)
    elif found and found.dialect == "sqlite" and not filters.narrows:
        total = session.scalar(found.sqlite_count())
    else:
        total = session.scalar(
            select(func.count()).select_from(matching().add_columns(_book.id).subquery())
        )
    return BookPage([book_json(row._mapping) for row in page.rows], total or 0, page)


def ranked_page(
    matching: Select,
    found: search.Search,
    position: Cursor | None,
    limit: int,
    fetch: Callable[[Select], list[Any]],
) -> tuple[Page, int | None]:
    """PostgreSQL's relevance page. Its index cannot hand the matches over in tier order, so
    each match is visited: one statement visits them once, for their tiers, their count and the
    page's ids, over the matches' ids alone; the page's books are then read by id. The count is
    None when the page is empty (a position past the end)."""
    matches = matching.add_columns(_book.id.label("id"), found.tier().label("tier")).cte("matches")
    total = select(func.count()).select_from(matches).scalar_subquery()
    order = Order("relevance", (SortKey(matches.c.tier, "int"), SortKey(matches.c.id, "int")))
    ids = read_page(
        select(matches.c.id, total.label("total")).select_from(matches),
        order,
        position,
        limit,
        fetch,
    )
    return books_of(ids, fetch), ids.rows[0].total if ids.rows else None


def books_of(ids: Page, fetch: Callable[[Select], list[Any]]) -> Page:
    """The page of books whose ids ``ids`` holds (rows with an ``id``), read by id."""
    by_id = {
        row.id: row for row in fetch(select(*COLUMNS).where(_book.id.in_([r.id for r in ids.rows])))
    }
    # A book purged between the two statements is simply not on the page.
    return Page([by_id[r.id] for r in ids.rows if r.id in by_id], ids.next, ids.prev, ids.last)


def list_deleted(session: Session, *, limit: int, cursor: str | None) -> BookPage:
    """Deleted books, most recently deleted first (for administrators)."""
    statement = select(*COLUMNS, *DELETED_COLUMNS).where(_book.deleted_at.is_not(None))
    position = Cursor.decode(cursor, DELETED_ORDER) if cursor else None
    page = read_page(
        statement,
        DELETED_ORDER,
        position,
        limit,
        lambda query: session.execute(query).all(),
    )
    total = session.scalar(
        select(func.count()).select_from(Book.__table__).where(_book.deleted_at.is_not(None))
    )
    return BookPage([book_json(row._mapping) for row in page.rows], total or 0, page)
