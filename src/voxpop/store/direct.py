"""Statements of the comment write run on the driver's cursor.

A comment write runs a dozen small statements in the writer's transaction; through
SQLAlchemy's execution layer each costs 35-130 µs of Python on top of the 3-30 µs the
database takes (measured in `voxpop serve` at 32 concurrent posts), and on SQLite the
writer is the one place every write of every process goes through. ``Direct`` compiles a
Core statement once per dialect and runs it on the DBAPI cursor of the same connection
(so in the same transaction), with its parameters through the bind processors SQLAlchemy
itself would apply (a UTC datetime becomes SQLite's text form, for instance). Rows come
back as the driver's plain tuples, without result processing: use it for statements whose
columns need none (integers, text), and SQLAlchemy for the rest.

Only for fixed statements built at import time from the schema, never from input, and
without ``expanding`` parameters (pass a JSON array and ``json_each``/``ANY`` instead).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # parameter names in order (qmark), None: by name
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]
    defaults: Mapping[str, Any]


class Direct:
    """A fixed Core statement run straight on the connection's DBAPI cursor."""

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        done = self._compiled.get(dialect.name)
        if done is not None:
            return done
        compiled = self.statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("Direct statements take no expanding or literal parameters")
        processors = []
        defaults: dict[str, Any] = {}
        for bind, name in compiled.bind_names.items():
            proc = bind.type.bind_processor(dialect)
            if proc is not None:
                processors.append((name, proc))
            if not bind.required and bind.value is not None:
                defaults[name] = bind.value
        done = _Compiled(
            sql=compiled.string,
            positional=tuple(compiled.positiontup or ()) if compiled.positional else None,
            processors=tuple(processors),
            defaults=defaults,
        )
        self._compiled[dialect.name] = done
        return done

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        """Run it; returns the DBAPI cursor (``fetchone``/``fetchall``/``rowcount``), which
        the caller reads at once. The cursor goes with the connection's transaction."""
        c = self._for(conn.dialect)
        values = {**c.defaults, **(params or {})}
        for name, proc in c.processors:
            if name in values:
                values[name] = proc(values[name])
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        if c.positional is not None:
            cursor.execute(c.sql, tuple(values[n] for n in c.positional))
        else:
            cursor.execute(c.sql, values)
        return cursor

    def rows(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        cursor = self.execute(conn, params)
        try:
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def first(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any | None:
        cursor = self.execute(conn, params)
        try:
            return cursor.fetchone()
        finally:
            cursor.close()

    def one(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        """The one row a statement returns (an INSERT … RETURNING)."""
        row = self.first(conn, params)
        if row is None:
            raise LookupError("the statement returned no row")
        return row

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement that returns no rows; its rowcount."""
        cursor = self.execute(conn, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()
