"""Sites: their rows exist for every configured site; configuration lives in settings."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.schema import sites
from voxpop.store.upsert import insert_ignore


def ensure(conn: Connection, names: list[str]) -> dict[str, int]:
    """Create missing site rows; return name → id for all of ``names``."""
    now = datetime.now(UTC)
    for name in names:
        insert_ignore(conn, sites, name=name, created_at=now)
    rows = conn.execute(sa.select(sites.c.name, sites.c.id)).all()
    have: dict[str, int] = {str(r.name): int(r.id) for r in rows}
    return {n: have[n] for n in names}
