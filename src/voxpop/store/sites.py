"""Sites: their rows exist for every configured site; configuration lives in settings."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.schema import sites


def ensure(conn: Connection, names: list[str]) -> dict[str, int]:
    """Create missing site rows; return name → id for all of ``names``."""
    rows = conn.execute(sa.select(sites.c.name, sites.c.id)).all()
    have: dict[str, int] = {str(r.name): int(r.id) for r in rows}
    now = datetime.now(UTC)
    for name in names:
        if name not in have:
            have[name] = int(
                conn.execute(
                    sa.insert(sites).values(name=name, created_at=now).returning(sites.c.id)
                ).scalar_one()
            )
    return {n: have[n] for n in names}
