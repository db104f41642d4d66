"""Queries for operators' gauges (``GET /metrics``, ``GET /readyz``): one cheap query each.

The queue queries read the ``queued`` rows through the ``(status, due_at)`` index of their
table: their cost grows with the backlog, never with the history of sent rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.schema import outbox, webhook_deliveries

QUEUED = "queued"  # the status of a row waiting to be sent (mail and webhook calls alike)


@dataclass(frozen=True, slots=True)
class Queue:
    """Rows waiting to be sent (due now or later, a retry's included), and the due time
    of the oldest that is due (None: nothing is due)."""

    pending: int
    oldest_due: datetime | None


def _queue(conn: Connection, table: sa.Table, now: datetime) -> Queue:
    c = table.c
    stmt = sa.select(
        sa.func.count(),
        sa.func.min(sa.case((c.due_at <= now, c.due_at), else_=None)).label("oldest"),
    ).where(c.status == QUEUED)
    pending, oldest = conn.execute(stmt).one()  # oldest: a UTCDateTime, aware
    return Queue(int(pending), oldest)


def outbox_queue(conn: Connection, now: datetime) -> Queue:
    return _queue(conn, outbox, now)


def webhook_queue(conn: Connection, now: datetime) -> Queue:
    return _queue(conn, webhook_deliveries, now)


def schema_revisions(conn: Connection) -> set[str]:
    """The Alembic revisions the database says it is at (raises without the table)."""
    rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
    return {str(r) for r in rows}


def ping(conn: Connection) -> None:
    conn.execute(sa.text("SELECT 1")).one()
