"""INSERT … ON CONFLICT DO NOTHING on both backends, for rows that racing writers may
both try to create (a site at start-up, an article at its first comment, a rating).

The dialect constructs for it opt out of SQLAlchemy's compiled-statement cache, so each
call would compile afresh (a quarter of a rating write's Python time). Both SQLite
(3.24+) and PostgreSQL accept the same standard text, so it is built once per table and
column set, with the columns' types bound so values are processed as usual.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import TextClause


@cache
def _statement(table: sa.Table, columns: tuple[str, ...]) -> TextClause:
    names = ", ".join(columns)
    params = ", ".join(f":{c}" for c in columns)
    return sa.text(
        # Table and column names come from the schema, never from input.
        f"INSERT INTO {table.name} ({names}) VALUES ({params}) ON CONFLICT DO NOTHING"  # noqa: S608
    ).bindparams(*(sa.bindparam(c, type_=table.c[c].type) for c in columns))


def insert_ignore_many(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """``insert_ignore`` of many rows with the same columns, in one executemany."""
    if rows:
        conn.execute(_statement(table, tuple(sorted(rows[0]))), rows)


def insert_ignore(conn: Connection, table: sa.Table, **values: Any) -> sa.CursorResult[Any]:
    """Insert one row unless it would conflict; ``rowcount`` says whether it was."""
    return conn.execute(_statement(table, tuple(sorted(values))), values)
