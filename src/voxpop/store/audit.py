"""The audit log: one row per moderation verb, written in that verb's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.schema import audit


def record(
    conn: Connection,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    site_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        sa.insert(audit).values(
            at=at, actor=actor, action=action, site_id=site_id, target=target, detail=detail
        )
    )


def page(
    conn: Connection, site_id: int | None, before: int | None, limit: int, action_prefix: str = ""
) -> list[Any]:
    """Newest first, keyset by id. With a site: its entries only."""
    query = sa.select(audit).order_by(audit.c.id.desc()).limit(limit)
    if site_id is not None:
        query = query.where(audit.c.site_id == site_id)
    if before is not None:
        query = query.where(audit.c.id < before)
    if action_prefix:
        query = query.where(audit.c.action.startswith(action_prefix, autoescape=True))
    return list(conn.execute(query).mappings())
