"""Readers: anonymous identities behind reader tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.schema import readers


def create(conn: Connection) -> int:
    return int(
        conn.execute(
            sa.insert(readers).values(created_at=datetime.now(UTC)).returning(readers.c.id)
        ).scalar_one()
    )


def exists(conn: Connection, reader_id: int) -> bool:
    return (
        conn.execute(sa.select(readers.c.id).where(readers.c.id == reader_id)).first() is not None
    )
