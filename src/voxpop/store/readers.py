"""Readers: anonymous identities behind reader tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.schema import readers

# Built once: SQLAlchemy reuses its compiled form (a fresh statement per call cost a
# write three times as much).
_CREATE = sa.insert(readers).returning(readers.c.id)


def create(conn: Connection) -> int:
    return int(conn.execute(_CREATE, {"created_at": datetime.now(UTC)}).scalar_one())


def exists(conn: Connection, reader_id: int) -> bool:
    return (
        conn.execute(sa.select(readers.c.id).where(readers.c.id == reader_id)).first() is not None
    )
