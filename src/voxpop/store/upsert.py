"""INSERT … ON CONFLICT DO NOTHING on both backends, for rows that racing writers may
both try to create (a site at start-up, an article at its first comment)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def insert_ignore(conn: Connection, table: sa.Table, **values: Any) -> sa.CursorResult[Any]:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return conn.execute(dialect.insert(table).values(**values).on_conflict_do_nothing())
