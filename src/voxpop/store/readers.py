"""Readers: anonymous identities behind reader tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.direct import Direct
from voxpop.store.schema import readers

# Every anonymous first post mints a reader: on the driver's cursor (store/direct.py).
_CREATE = Direct(sa.insert(readers).values(created_at=sa.bindparam("now")).returning(readers.c.id))


def create(conn: Connection) -> int:
    return int(_CREATE.one(conn, {"now": datetime.now(UTC)})[0])


def exists(conn: Connection, reader_id: int) -> bool:
    return (
        conn.execute(sa.select(readers.c.id).where(readers.c.id == reader_id)).first() is not None
    )
