"""Core statements run straight on the DBAPI cursor, compiled once per dialect and set of
parameter names.

SQLAlchemy's execution of a Core statement (the execution context, its cache lookup, the
result object) costs several times what SQLite takes to run a small INSERT. On SQLite the hot
writes run one at a time, holding the database's write lock (and the write gate of
:mod:`common.db`), so that Python is paid by every writer queued behind them (issue 12). A
:class:`Prepared` statement is still written as Core and still converts its values with the
column types' own bind processors (datetimes, JSON) for the dialect at hand, so what it stores
is byte for byte what SQLAlchemy would have stored; it skips only the machinery around the
cursor. It runs in the caller's transaction, on the connection SQLAlchemy checked out for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

# Every UPDATE that SETs a different set of columns is its own compiled form; a writer sets a
# handful of combinations in practice, and past this many new ones are compiled but not kept.
MAX_FORMS = 1024
# The default of a parameter that has none: the caller must give it.
_REQUIRED = object()


@dataclass(frozen=True)
class _Form:
    sql: str
    # For each parameter, in the order the SQL names it (or by name when the driver's
    # parameters are named): its name, the value it has if the caller gives none, and the
    # column type's conversion for this dialect (None: the value goes as it is).
    binds: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]
    positional: bool
    # What a SELECT returns: each column's key and type.
    columns: tuple[tuple[str, Any], ...]


class Prepared:
    """One Core statement (INSERT, UPDATE, SELECT; no expanding ``IN`` parameters), run on the
    DBAPI cursor of a SQLAlchemy connection. Give it the same parameters as
    ``connection.execute(statement, params)`` would take; it returns the DBAPI cursor (read
    ``rowcount``, or ``fetchone()`` for a ``RETURNING``)."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._forms: dict[tuple[str, tuple[str, ...]], _Form] = {}
        self._readers: dict[
            tuple[str, tuple[str, ...]], tuple[tuple[str, Callable[[Any], Any] | None], ...]
        ] = {}

    def _form(self, dialect: Dialect, keys: tuple[str, ...]) -> _Form:
        found = self._forms.get((dialect.name, keys))
        if found is not None:
            return found
        compiled = self.statement.compile(dialect=dialect, column_keys=list(keys))
        assert isinstance(compiled, SQLCompiler)  # a statement's compiler (not DDL's)
        defaults = [*compiled.insert_prefetch, *compiled.update_prefetch]
        if defaults:
            # A default computed in Python is SQLAlchemy's execution's work, skipped here.
            raise ValueError(f"give every column with a Python default: {defaults}")
        positions = compiled.positiontup if dialect.positional else None
        names: Sequence[str] = positions if positions is not None else list(compiled.binds)
        binds = []
        for name in names:
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            binds.append((name, _REQUIRED if bind.required else bind.effective_value, process))
        # A SELECT's columns, or what an INSERT, UPDATE or DELETE returns. Only one with a
        # RETURNING is asked: asking any other memoizes its (no) columns on it, and a
        # statement later derived from it with .returning() would inherit them.
        selected: Iterable[Any] | None = getattr(self.statement, "selected_columns", None)
        if selected is None:
            returns = getattr(self.statement, "_returning", ())
            selected = list(compiled.effective_returning or ()) if returns else []
        columns = tuple((column.key, column.type.dialect_impl(dialect)) for column in selected)
        form = _Form(str(compiled), tuple(binds), dialect.positional, columns)
        if len(self._forms) < MAX_FORMS:
            self._forms[(dialect.name, keys)] = form
        return form

    def bound(
        self, dialect: Dialect, params: Mapping[str, Any]
    ) -> tuple[str, tuple[Any, ...] | dict[str, Any]]:
        """The SQL and the driver's parameters that :meth:`run` executes (for a plan read by
        ``EXPLAIN``, say)."""
        form = self._form(dialect, tuple(params))
        return form.sql, _values(form, params)

    def run(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        sql, values = self.bound(connection.dialect, params)
        # A checked-out connection always has its driver's connection (None only once closed).
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, values)
        except connection.dialect.loaded_dbapi.Error as error:
            raise translated(connection.dialect, sql, error) from None
        return cursor

    def first(self, connection: Connection, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """A SELECT's first row, by column key, its values converted as SQLAlchemy's result
        would have (datetimes, JSON); None when it finds none."""
        return self.read_first(connection.dialect, params, self.run(connection, params))

    def read_first(
        self, dialect: Dialect, params: Mapping[str, Any], cursor: Any
    ) -> dict[str, Any] | None:
        """:meth:`first` of a cursor that ran this statement with ``params`` elsewhere (in a
        pipeline, say)."""
        row = cursor.fetchone()
        if row is None:
            return None
        return self._read(self._readers_of(dialect, params, cursor), row)

    def read_all(
        self, dialect: Dialect, params: Mapping[str, Any], cursor: Any
    ) -> list[dict[str, Any]]:
        """Every row of a cursor that ran this statement with ``params``, as :meth:`first`
        gives one."""
        rows = cursor.fetchall()
        if not rows:
            return []
        readers = self._readers_of(dialect, params, cursor)
        return [self._read(readers, row) for row in rows]

    def _readers_of(
        self, dialect: Dialect, params: Mapping[str, Any], cursor: Any
    ) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
        key = (dialect.name, tuple(params))
        readers = self._readers.get(key)
        if readers is None:
            # The conversions depend on the types the driver reports (PostgreSQL's numerics).
            columns = self._form(dialect, tuple(params)).columns
            readers = tuple(
                (name, type_.result_processor(dialect, described[1]))
                for (name, type_), described in zip(columns, cursor.description, strict=True)
            )
            if len(self._readers) < MAX_FORMS:
                self._readers[key] = readers
        return readers

    @staticmethod
    def _read(
        readers: tuple[tuple[str, Callable[[Any], Any] | None], ...], row: Sequence[Any]
    ) -> dict[str, Any]:
        return {
            name: process(value) if process else value
            for (name, process), value in zip(readers, row, strict=True)
        }

    def run_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """The statement once per row (every row with the same keys), in one DBAPI call."""
        if not rows:
            return
        form = self._form(connection.dialect, tuple(rows[0]))
        batch = [_values(form, row) for row in rows]
        # A checked-out connection always has its driver's connection (None only once closed).
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(form.sql, batch)
        except connection.dialect.loaded_dbapi.Error as error:
            raise translated(connection.dialect, form.sql, error) from None


def _values(form: _Form, params: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
    """The driver's parameters: in the SQL's order (positional drivers) or by name, each
    value converted by its column type. One loop, no call per value: a book's INSERT has some
    twenty of them, converted while the write gate is held."""
    values = []
    for name, default, process in form.binds:
        value = params.get(name, default)
        if value is _REQUIRED:
            raise KeyError(f"no value for the parameter {name!r}")
        values.append(value if process is None else process(value))
    if form.positional:
        return tuple(values)
    return dict(zip((name for name, _, _ in form.binds), values, strict=True))


def translated(dialect: Dialect, sql: str, error: Exception) -> Exception:
    """The driver's error as SQLAlchemy would raise it (``IntegrityError``,
    ``OperationalError`` ...), so that callers and the error handlers (503 when the database is
    unavailable) see what a ``connection.execute`` would have raised."""
    return DBAPIError.instance(sql, None, error, dialect.loaded_dbapi.Error, dialect=dialect)
