"""PostgreSQL's broad searches: a word in a few percent of a million books costs about what it
costs in a thousand.

PostgreSQL's search index (GIN) hands its matches over in no useful order, so ranking all of
them (the tiers of :mod:`books_service.search`) or counting them exactly means reading each
match's row: one heap page per match, a cost that grows with the catalog. So a search is
**broad** when PostgreSQL expects more than ``exact_up_to`` matches (its planner's estimate,
checked by a count that stops at ``exact_up_to + 1`` when the estimate is near the line), and
then:

* **its count is an estimate**, the planner's (never below ``exact_up_to + 1``, rounded to two
  significant digits), and the response says so (``X-Total-Count-Estimated``); a search that is
  not broad keeps its exact count;
* **its relevance order is ranked within windows of ids**: ``(window, tier, id)``, a window
  being ``size`` consecutive ids, the size chosen on the first page so that a window holds
  about WINDOW_PAGES pages of matches, and carried in every cursor, so a walk's order never
  changes under it. A page reads the windows it needs from its position (one, or a few more
  where matches are sparse, doubling the span each time), each an AND of the search index with
  an id range: a few hundred rows read, whatever the catalog's size.

What this gives up: a title match in a later window comes after a description-only match of an
earlier one (relevance is local to a window). What it keeps: every match is on exactly one page
of a walk, books added meanwhile fall in later windows, cursors of searches that were small
when the walk began keep their exact order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, func, literal, select, tuple_
from sqlalchemy.orm import Session

from books_service import counts
from books_service.models import Book
from books_service.search import TIERS, Search
from common.pagination import Cursor, InvalidCursor, Order, Page, SortKey, _page

_book = Book.__table__.c
EXACT_UP_TO = 1000  # matches counted and ranked exactly; beyond, a search is broad
WINDOW_PAGES = 2  # a window holds about this many pages of matches
# Past the last window: the position of the "last" link, which must carry the window size.
END = 2**62
_ID_LIMIT = 2**31  # ids are 32-bit integers
_KEY = SortKey(literal(0), "int")
# A windowed cursor's position: (window size, window, tier, id).
WINDOWED = Order("relevance", (_KEY, _KEY, _KEY, _KEY))


def about(n: int) -> int:
    """``n`` to two significant digits: an estimate does not pretend to be a count."""
    if n < 100:
        return n
    scale = 10 ** (len(str(n)) - 2)
    return round(n / scale) * scale


def estimate(session: Session, matching: Select[Any], exact_up_to: int) -> int | None:
    """The estimated count of a broad search; None when the search is not broad (then count it).
    A planning costs well under a millisecond; the capped count, only asked when the estimate
    is within a factor of four of the line, reads at most ``exact_up_to + 1`` matches."""
    ids = matching.add_columns(_book.id)
    expected = counts.planner_estimate(session, ids)
    if expected <= exact_up_to // 4:
        return None
    if expected <= 4 * exact_up_to and counts.count_up_to(session, ids, exact_up_to) <= exact_up_to:
        return None
    return max(about(expected), exact_up_to + 1)


def decode(token: str, exact: Order) -> Cursor:
    """A relevance cursor: windowed (four values) or exact (``exact``'s two)."""
    try:
        cursor = Cursor.decode(token, WINDOWED)
    except InvalidCursor:
        return Cursor.decode(token, exact)
    if cursor.values is not None:
        size, window, tier, book_id = cursor.values
        # Within the id column's range, so that no product of them overflows it.
        if not (
            1 <= size < _ID_LIMIT
            and (0 <= window < _ID_LIMIT or window == END)
            and 0 <= tier < TIERS
            and 0 <= book_id < _ID_LIMIT
        ):
            raise InvalidCursor()
    return cursor


def windowed(cursor: Cursor | None) -> bool:
    return (
        cursor is not None
        and cursor.order == WINDOWED.name
        and cursor.values is not None
        and (len(cursor.values) == len(WINDOWED.keys))
    )


def window_size(last_id: int, matches: int, limit: int) -> int:
    """Ids per window for a walk beginning now: about WINDOW_PAGES pages of matches each, if the
    matches are spread evenly over the ids."""
    return max(1, math.ceil(last_id * WINDOW_PAGES * (limit + 1) / max(matches, 1)))


def windowed_page(
    session: Session,
    matching: Select[Any],
    found: Search,
    position: Cursor | None,
    matches: int,
    limit: int,
    fetch: Callable[[Select[Any]], list[Any]],
) -> Page:
    """The ids of one page in the order ``(window, tier, id)`` from ``position`` (None: the first
    page, whose window size is chosen for about ``matches`` matches), reading only the windows
    it needs."""
    backwards = position is not None and position.backwards
    from_end = position is not None and position.values is not None and position.values[1] >= END
    last_id = int(session.scalar(select(func.max(_book.id))) or 0)
    if position is not None and position.values is not None:
        size = position.values[0]
    else:
        size = window_size(last_id, matches, limit)
    window: ColumnElement[int] = ((_book.id - 1) // size).cast(Integer)
    tier = found.tier()
    keys = (literal(size, Integer), window, tier, _book.id)
    labelled = (k.label(f"page_key_{i}") for i, k in enumerate(keys))
    base = matching.add_columns(_book.id.label("id"), *labelled)
    if position is not None and position.values is not None and not from_end:
        start = min(position.values[1], max(last_id - 1, 0) // size)
        after = tuple_(window, tier, _book.id)
        values = tuple_(*position.values[1:])
        base = base.where(after < values if backwards else after > values)
    else:
        start = (max(last_id, 1) - 1) // size if backwards else 0
    order = (window, tier, _book.id)
    rows: list[Any] = []
    span = 1
    while len(rows) <= limit and start >= 0 and start * size < last_id:
        low, high = (start - span + 1, start) if backwards else (start, start + span - 1)
        low = max(low, 0)
        statement = base.where(_book.id.between(low * size + 1, min((high + 1) * size, last_id)))
        statement = statement.order_by(*(k.desc() if backwards else k.asc() for k in order))
        rows += fetch(statement.limit(limit + 1 - len(rows)))
        start = low - 1 if backwards else high + 1
        span *= 2
    end = Cursor(WINDOWED.name, (size, END, 0, 0), True)
    page = _page(rows, WINDOWED, Cursor(WINDOWED.name, None, True) if from_end else position, limit)
    return Page(page.rows, page.next, page.prev, end)
