"""The database's own plan of a statement, as the tests that check plans read it."""

from __future__ import annotations

from typing import Any

from common.db import Database


def plan(db: Database, statement: str, parameters: Any) -> str:
    """``statement`` (DBAPI SQL with its parameters, as an engine event sees them) explained:
    ``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL, one line a step."""
    with db.engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        if db.engine.dialect.name == "sqlite":
            rows = raw.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            return "\n".join(row[-1] for row in rows)
        rows = raw.execute("EXPLAIN " + statement, parameters).fetchall()
        return "\n".join(row[0] for row in rows)
