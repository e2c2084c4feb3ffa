"""PostgreSQL transactions whose statements are sent at once, through psycopg's pipeline.

On PostgreSQL each statement is a round trip to the server, and psycopg, left to begin a
transaction itself, sends ``BEGIN`` and waits for it before the first statement, then
``COMMIT`` and waits again. A request that writes one book needs the server's answer at most
once before it commits: a change once (the book's row, read and locked, from which the change
is worked out). So here ``BEGIN`` travels with the first statement and ``COMMIT`` with the
last: a change is two round trips, where it was six (issue 12). A write that is one statement
needs no transaction around it at all (:func:`run_alone`): a statement is atomic by itself,
its data-modifying CTEs included, so a new book (its duplicate check, authors, count and
history one statement, :mod:`books_service.pg_writes`) is that statement alone, without
``BEGIN`` or ``COMMIT``.

The server runs the statements in the order they were queued, each reading the database as of
its own start (READ COMMITTED), so a lock one statement takes is held when the next starts.
What an error does is the same as in any transaction: the whole of it is rolled back, and the
error raised as SQLAlchemy would raise it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.engine.interfaces import Dialect

from common.prepared import Prepared, translated

# libpq's PGRES_TUPLES_OK (psycopg.pq.ExecStatus.TUPLES_OK), part of its stable ABI: named
# here so that importing this module does not load psycopg where SQLite is the database.
_ROWS = 2
T = TypeVar("T")


class AtOnce:
    """One transaction's statements, in psycopg's pipeline on its connection. :meth:`queue`
    sends nothing yet; :meth:`first` sends what is queued with its statement and waits for the
    answers (one round trip)."""

    def __init__(
        self, driver_connection: Any, pipeline: Any, dialect: Dialect, sent: list[str]
    ) -> None:
        self._connection = driver_connection
        self._pipeline = pipeline
        self._dialect = dialect
        self._sent = sent

    def queue(self, statement: Prepared, params: Mapping[str, Any]) -> Any:
        """``statement`` queued; the psycopg cursor whose rows it gives once the transaction
        has ended (or after the next :meth:`first`)."""
        sql, values = statement.bound(self._dialect, params)
        self._sent.append(sql)
        return self._connection.execute(sql, values)

    def first(self, statement: Prepared, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """A SELECT's first row, as :meth:`Prepared.first` gives it, sent with everything
        queued before it."""
        cursor = self.queue(statement, params)
        self._pipeline.sync()
        return statement.read_first(self._dialect, params, cursor)


@contextmanager
def transaction_at_once(driver_connection: Any, dialect: Dialect) -> Iterator[AtOnce]:
    """A transaction on an idle psycopg connection, committed when the block ends (``COMMIT``
    sent with whatever is still queued), rolled back if it raises. If even the rollback fails
    (the connection lost), the connection is closed for its pool to discard."""
    error_class = dialect.loaded_dbapi.Error
    sent: list[str] = []
    driver_connection.autocommit = True  # BEGIN and COMMIT are this function's, in the pipeline
    try:
        with driver_connection.pipeline() as pipeline:
            driver_connection.execute("BEGIN")
            yield AtOnce(driver_connection, pipeline, dialect, sent)
            driver_connection.execute("COMMIT")
    except BaseException as error:
        try:  # the pipeline ended inside the transaction: end the transaction too
            status = driver_connection.info.transaction_status
            if not driver_connection.closed and status.name != "IDLE":
                driver_connection.execute("ROLLBACK")
        except error_class:
            driver_connection.close()
        if isinstance(error, error_class):
            raise translated(dialect, "; ".join(sent), error) from None
        raise
    finally:
        if not driver_connection.closed:
            driver_connection.autocommit = False


def run_alone(
    driver_connection: Any, dialect: Dialect, statement: Prepared, params: Mapping[str, Any]
) -> dict[str, Any] | None:
    """One statement as a transaction of its own, on an idle psycopg connection: sent in
    autocommit (the server commits it as it ends, all of it or none), no ``BEGIN``, no
    ``COMMIT``; its first row as :meth:`Prepared.first` gives it (None for none). An error is
    raised as SQLAlchemy would raise it."""
    return _alone(driver_connection, dialect, statement, params, statement.read_first)


def run_alone_rows(
    driver_connection: Any, dialect: Dialect, statement: Prepared, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """:func:`run_alone`, and every row it gives."""
    return _alone(driver_connection, dialect, statement, params, statement.read_all) or []


def _alone(
    driver_connection: Any,
    dialect: Dialect,
    statement: Prepared,
    params: Mapping[str, Any],
    read: Callable[[Dialect, Mapping[str, Any], Any], T],
) -> T | None:
    sql, values = statement.bound(dialect, params)
    driver_connection.autocommit = True
    try:
        cursor = driver_connection.execute(sql, values)
        # Whether it gave rows, asked of the result itself: the cursor's description would
        # build an object for each column, on every call.
        result = cursor.pgresult
        if result is None or result.status != _ROWS:
            return None
        return read(dialect, params, cursor)
    except dialect.loaded_dbapi.Error as error:
        raise translated(dialect, sql, error) from None
    finally:
        if not driver_connection.closed:
            driver_connection.autocommit = False
