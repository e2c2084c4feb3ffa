"""The number of live books and the catalog's version, both kept exact in the writing
transactions (see ``BookCount``); and, for searches too broad to count at every request, a
count that stops at a cap and PostgreSQL's estimate."""

from __future__ import annotations

import random
from typing import Any, cast

from sqlalchemy import Connection, Select, Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from books_service.models import BookCount
from common.db import connection_of
from common.prepared import Prepared

SLOTS = 8
_ADJUST = Prepared(
    update(cast(Table, BookCount.__table__))
    .where(BookCount.slot == bindparam("b_slot"))
    .values(live=BookCount.live + bindparam("b_delta"), changes=BookCount.changes + 1)
)


def adjust(session: Session | Connection, delta: int) -> None:
    """Count ``delta`` more (or fewer) live books, and one more change to the catalog, in the
    caller's transaction. Every change to a book calls it (``delta`` 0 when the number of live
    books stays), or pages cached under the catalog's version would be served stale."""
    _ADJUST.run(connection_of(session), {"b_slot": random_slot(), "b_delta": delta})


def random_slot() -> int:
    """The slot a write counts in: one at random, so that concurrent writers on PostgreSQL
    rarely wait for each other's row lock."""
    return random.randrange(SLOTS)  # noqa: S311 - spreading lock contention, not a secret


def live_books(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(BookCount.live), 0))) or 0)


def catalog_version(session: Session) -> int:
    """How many changes the catalog has seen: it grows with every committed change (never
    repeats), and every worker and replica reads the same number."""
    return int(session.scalar(select(func.coalesce(func.sum(BookCount.changes), 0))) or 0)


def count_up_to(session: Session, statement: Select[Any], cap: int) -> int:
    """How many rows ``statement`` gives, counting no further than ``cap + 1``: a search that
    matches more stops costing more once it is known to be broad."""
    capped = statement.limit(cap + 1).subquery()
    return int(session.scalar(select(func.count()).select_from(capped)) or 0)


def planner_estimate(session: Session, statement: Select[Any]) -> int:
    """PostgreSQL's own estimate of how many rows ``statement`` gives, from its statistics and
    without running it (EXPLAIN): a planning, no read of the matches."""
    connection = session.connection()
    compiled = statement.compile(dialect=connection.dialect)
    plan = connection.exec_driver_sql(
        "EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params
    ).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])
