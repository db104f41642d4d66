"""Webhook deliveries: one row per call to make, written in the transaction of the change
it announces, claimed and sent by the outbox workers, and the operators' delivery log.

``(url, event_key)`` is unique, so deciding an event twice queues one call. A row is
``queued`` until a worker claims it under a lease (``claimed_by``, ``claimed_until``): on
PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so workers take disjoint rows; on SQLite the
claim is one write transaction, atomic across processes. It ends ``sent`` or ``failed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.outbox import requeue
from voxpop.store.schema import webhook_deliveries
from voxpop.store.upsert import insert_ignore

QUEUED = "queued"
SENT = "sent"
FAILED = "failed"
STATUSES = (QUEUED, SENT, FAILED)

_W = webhook_deliveries.c


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    site_id: int | None
    url: str
    event: str
    payload: str
    attempts: int


def enqueue(
    conn: Connection,
    *,
    site_id: int,
    url: str,
    event: str,
    event_key: str,
    payload: str,
    now: datetime,
) -> bool:
    """Queue one call; False when this event was queued for this URL before."""
    result = insert_ignore(
        conn,
        webhook_deliveries,
        site_id=site_id,
        url=url,
        event=event,
        event_key=event_key,
        payload=payload,
        status=QUEUED,
        due_at=now,
        attempts=0,
        created_at=now,
    )
    return result.rowcount == 1


# -- the worker's side -------------------------------------------------------------------


def _due(now: datetime, site_ids: Sequence[int]) -> Any:
    return sa.and_(
        _W.status == QUEUED,
        _W.due_at <= now,
        sa.or_(_W.claimed_until.is_(None), _W.claimed_until < now),
        _W.site_id.in_(list(site_ids)),
    )


def any_due(conn: Connection, now: datetime, site_ids: Sequence[int]) -> bool:
    """Whether a claim would find something (a read: idle workers write nothing)."""
    stmt = sa.select(_W.id).where(_due(now, site_ids)).limit(1)
    return conn.execute(stmt).first() is not None


def claim(
    conn: Connection,
    worker: str,
    now: datetime,
    until: datetime,
    limit: int,
    site_ids: Sequence[int],
) -> list[Claimed]:
    """Take up to ``limit`` due calls of the sites ``site_ids`` (those the worker has a
    webhook for) for ``worker`` until ``until`` (its lease); each claim counts as an
    attempt."""
    due = (
        sa.select(_W.id)
        .where(_due(now, site_ids))
        .order_by(_W.due_at, _W.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        sa.update(webhook_deliveries)
        .where(_W.id.in_(due.scalar_subquery()))
        .values(claimed_by=worker, claimed_until=until, attempts=_W.attempts + 1)
        .returning(_W.id, _W.site_id, _W.url, _W.event, _W.payload, _W.attempts)
    )
    claimed = [Claimed(*row) for row in conn.execute(stmt).all()]
    claimed.sort(key=lambda c: c.id)
    return claimed


def finish(
    conn: Connection,
    row_id: int,
    worker: str,
    *,
    status: str,
    now: datetime,
    response_status: int | None,
    error: str | None,
    due: datetime | None = None,
) -> bool:
    """Record a call's outcome: ``sent``, ``failed``, or ``queued`` again at ``due``.
    False when the row was no longer this worker's (its lease was lost meanwhile)."""
    values: dict[str, Any] = {
        "status": status,
        "claimed_by": None,
        "claimed_until": None,
        "response_status": response_status,
        "last_error": error[:500] if error else None,
    }
    if status == SENT:
        values["sent_at"] = now
    if due is not None:
        values["due_at"] = due
    result = conn.execute(
        sa.update(webhook_deliveries)
        .where(_W.id == row_id, _W.claimed_by == worker, _W.status == QUEUED)
        .values(**values)
    )
    return result.rowcount == 1


def release(conn: Connection, row_ids: Sequence[int], worker: str) -> None:
    """Hand back claimed rows untried (a worker stopping, or out of time in its lease)."""
    if row_ids:
        conn.execute(
            sa.update(webhook_deliveries)
            .where(_W.id.in_(list(row_ids)), _W.claimed_by == worker, _W.status == QUEUED)
            .values(claimed_by=None, claimed_until=None, attempts=_W.attempts - 1)
        )


def prune(conn: Connection, before: datetime, limit: int = 1000) -> int:
    """Delete finished calls (sent or failed) made before ``before``, a slice at a time."""
    done = (
        sa.select(_W.id).where(_W.status.in_([SENT, FAILED]), _W.created_at < before).limit(limit)
    )
    stmt = sa.delete(webhook_deliveries).where(_W.id.in_(done.scalar_subquery()))
    return int(conn.execute(stmt).rowcount)


# -- privacy -----------------------------------------------------------------------------

# The keys (``services.webhooks``) of the events that carry one comment: the id alone, or
# the id and the moment. An erasure's own announcements start ``privacy:``: never these.
_BY_ID = ("comment.created", "feedback.created", "comment.deleted")
_BY_ID_AND_MOMENT = ("comment.moderated", "comment.edited")
_RATING = ("rating.created", "rating.updated", "rating.deleted")
ERASE_SLICE = 100  # comments per statement: 2 patterns and 3 keys each (SQLite: depth < 1000)


def erase_comment_calls(
    conn: Connection, site_id: int | None, comment_ids: Sequence[int]
) -> list[str]:
    """Delete the calls, queued or made, that carry one of these comments (on one site, or
    on any); return their event keys. No index leads to a comment's calls: each statement
    reads the site's calls once (as many as the retention keeps) for a slice of comments."""
    keys: list[str] = []
    ordered = sorted(set(comment_ids))
    for i in range(0, len(ordered), ERASE_SLICE):
        part = ordered[i : i + ERASE_SLICE]
        exact = [f"{event}:{cid}" for cid in part for event in _BY_ID]
        moments = [_W.event_key.like(f"{e}:{cid}:%") for cid in part for e in _BY_ID_AND_MOMENT]
        stmt = sa.delete(webhook_deliveries).where(
            _W.event.in_(_BY_ID + _BY_ID_AND_MOMENT),
            sa.or_(_W.event_key.in_(exact), *moments),
        )
        if site_id is not None:
            stmt = stmt.where(_W.site_id == site_id)
        keys.extend(str(k) for k in conn.execute(stmt.returning(_W.event_key)).scalars())
    return keys


def erase_rating_calls(conn: Connection, site_id: int | None, reader_id: int) -> list[str]:
    """Delete the calls, queued or made, that carry a rating of the reader (on one site,
    or on any); return their event keys (``rating.<x>:<article>:<reader>:<moment>``)."""
    stmt = sa.delete(webhook_deliveries).where(
        _W.event.in_(_RATING), _W.event_key.like(f"rating.%:%:{int(reader_id)}:%")
    )
    if site_id is not None:
        stmt = stmt.where(_W.site_id == site_id)
    return [str(k) for k in conn.execute(stmt.returning(_W.event_key)).scalars()]


# -- operators ---------------------------------------------------------------------------


def counts(conn: Connection, site_id: int | None) -> dict[str, int]:
    stmt = sa.select(_W.status, sa.func.count()).group_by(_W.status)
    if site_id is not None:
        stmt = stmt.where(_W.site_id == site_id)
    found = {str(status): int(n) for status, n in conn.execute(stmt)}
    return {status: found.get(status, 0) for status in STATUSES}


def listing(
    conn: Connection, site_id: int | None, status: str | None, before: int | None, limit: int
) -> list[Any]:
    """Newest first, keyset by id (``before``: ids below it)."""
    stmt = (
        sa.select(
            _W.id,
            _W.site_id,
            _W.event,
            _W.url,
            _W.status,
            _W.attempts,
            _W.response_status,
            _W.last_error,
            _W.created_at,
            _W.sent_at,
            _W.due_at,
        )
        .order_by(_W.id.desc())
        .limit(limit)
    )
    if site_id is not None:
        stmt = stmt.where(_W.site_id == site_id)
    if status is not None:
        stmt = stmt.where(_W.status == status)
    if before is not None:
        stmt = stmt.where(_W.id < before)
    return list(conn.execute(stmt).mappings())


def retry(
    conn: Connection, row_ids: Sequence[int] | None, site_id: int | None, now: datetime
) -> int:
    """Queue failed calls (the given ones, or all) again: ``outbox.requeue``, limited to a
    site when one is given."""
    stmt = requeue(webhook_deliveries, row_ids, now)
    if site_id is not None:
        stmt = stmt.where(_W.site_id == site_id)
    return int(conn.execute(stmt).rowcount)
