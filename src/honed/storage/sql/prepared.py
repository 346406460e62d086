"""Statements of the hot paths, compiled once per dialect and run on the DB-API cursor.

SQLAlchemy builds, caches and post-processes every statement it executes; on the worker
loop's endpoints that bookkeeping cost more CPU than SQLite's own work (docs/decisions.md:
The worker loop's statements compiled once, run on the driver's cursor). A ``Prepared``
statement is still written with SQLAlchemy Core, so the SQL stays dialect-correct, but it
is compiled once and then run straight on the driver's cursor, with the few conversions
honed's column types need (JSON text in and out, SQLite's 0/1 booleans) done here.

Compiling reads SQLAlchemy internals (``_returning``, ``construct_params(_check=False)``,
``positiontup``): pyproject pins SQLAlchemy to the minor release they were tested with, and
tests/test_prepared_statements.py has both databases plan every statement.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import Dialect
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.sql.expression import ReturnsRows

from honed.storage.sql.database import RawTransaction
from honed.storage.sql.database import json_loads

Convert = Callable[[Any], Any]
# Row classes are made at run time from a statement's columns.
_row_class: Callable[..., Callable[..., Any]] = namedtuple


def _json_in(value: Any) -> Any:
    return None if value is None else json.dumps(value)


def _json_out(value: Any) -> Any:
    # SQLite returns JSON as text; psycopg has already decoded JSONB.
    return json_loads(value) if isinstance(value, str | bytes) else value


def _bool_out(value: Any) -> Any:
    return None if value is None else bool(value)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # bind names in the order the driver wants them (positional)
    positional: bool
    defaults: Mapping[str, Any]  # literal values SQLAlchemy turned into binds
    bind_converters: Mapping[str, Convert]
    row_type: Callable[..., Any] | None
    # (column index, conversion) for the columns that need one
    row_converters: tuple[tuple[int, Convert], ...]


class Prepared:
    """One Core statement, compiled on first use for each dialect.

    ``column_keys`` names the columns an INSERT/UPDATE without ``.values()`` sets. Rows come
    back as named tuples whose fields are the statement's column labels.
    """

    def __init__(self, statement: ClauseElement, column_keys: Sequence[str] | None = None) -> None:
        self._statement = statement
        self._column_keys = list(column_keys) if column_keys is not None else None
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        key = f"{dialect.name}+{dialect.driver}"
        found = self._by_dialect.get(key)
        if found is None:
            found = self._compile(dialect)
            self._by_dialect[key] = found
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled: Any = self._statement.compile(  # a SQLCompiler; its API is untyped here
            dialect=dialect, column_keys=self._column_keys
        )
        binds = compiled.binds
        positional = bool(compiled.positional)
        names = tuple(compiled.positiontup or ()) if positional else tuple(binds)
        defaults = {
            name: value
            for name, value in (compiled.construct_params(_check=False) or {}).items()
            if value is not None
        }
        bind_converters = {
            name: _json_in for name, bind in binds.items() if isinstance(bind.type, JSON)
        }
        row_type: Callable[..., Any] | None = None
        row_converters: tuple[tuple[int, Convert], ...] = ()
        if isinstance(self._statement, ReturnsRows) and self._statement.exported_columns:
            columns = list(self._statement.exported_columns)
        else:
            returning = getattr(self._statement, "_returning", ())
            columns = list(returning)
        if columns:
            row_type = _row_class("Row", [str(column.key) for column in columns], rename=True)
            row_converters = tuple(
                (index, convert)
                for index, column in enumerate(columns)
                if (convert := _row_converter(column.type)) is not None
            )
        return _Compiled(
            sql=compiled.string,
            names=names,
            positional=positional,
            defaults=defaults,
            bind_converters=bind_converters,
            row_type=row_type,
            row_converters=row_converters,
        )

    def _arguments(self, compiled: _Compiled, params: Mapping[str, Any]) -> Any:
        values = {**compiled.defaults, **params}
        for name, convert in compiled.bind_converters.items():
            if name in values:
                values[name] = convert(values[name])
        if compiled.positional:
            return tuple(values[name] for name in compiled.names)
        return values

    def send(self, tx: RawTransaction, params: Mapping[str, Any]) -> Pending:
        """Execute without waiting for the result. In a pipelined transaction (PostgreSQL)
        the statement is only queued: statements sent one after another travel to the
        server together, and the first result read waits for all of them at once."""
        compiled = self._compiled(tx.dialect)
        cursor = tx.dbapi.cursor()
        cursor.execute(compiled.sql, self._arguments(compiled, params))
        return Pending(compiled, cursor, tx)

    def rows(self, tx: RawTransaction, params: Mapping[str, Any]) -> list[Any]:
        return self.send(tx, params).rows()

    def first(self, tx: RawTransaction, params: Mapping[str, Any]) -> Any | None:
        return self.send(tx, params).first()

    def scalars(self, tx: RawTransaction, params: Mapping[str, Any]) -> list[Any]:
        return self.send(tx, params).scalars()

    def run(self, tx: RawTransaction, params: Mapping[str, Any]) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        return self.send(tx, params).rowcount()


class Pending:
    """A sent statement whose result is read on demand (see ``Prepared.send``)."""

    def __init__(self, compiled: _Compiled, cursor: Any, tx: RawTransaction) -> None:
        self._compiled = compiled
        self._cursor = cursor
        self._tx = tx

    def rows(self) -> list[Any]:
        try:
            return _converted(self._compiled, self._cursor.fetchall())
        finally:
            self._cursor.close()

    def first(self) -> Any | None:
        try:
            row = self._cursor.fetchone()
        finally:
            self._cursor.close()
        return None if row is None else _converted(self._compiled, [row])[0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows()]

    def rowcount(self) -> int:
        try:
            if self._tx.pipeline is not None and self._cursor.pgresult is None:
                self._tx.pipeline.sync()  # rowcount is known once the result is in
            return int(self._cursor.rowcount)
        finally:
            self._cursor.close()


def _row_converter(column_type: Any) -> Convert | None:
    if isinstance(column_type, JSON):
        return _json_out
    if isinstance(column_type, Boolean):
        return _bool_out
    return None


def _converted(compiled: _Compiled, raw: Iterable[Sequence[Any]]) -> list[Any]:
    assert compiled.row_type is not None, "this statement returns no rows"
    make = compiled.row_type
    converters = compiled.row_converters
    rows = []
    for row in raw:
        values = list(row)
        for index, convert in converters:
            values[index] = convert(values[index])
        rows.append(make(*values))
    return rows
