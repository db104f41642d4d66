"""The outbox: mail decided in the transaction of its cause, claimed and sent by workers.

A row is ``queued`` until a worker claims it with a lease (``claimed_by``,
``claimed_until``): on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so several workers
take disjoint rows; on SQLite the claim is one write transaction, which is atomic across
processes. A worker that dies leaves its rows to be claimed again once the lease runs
out; the row's Message-ID is derived from its id, so a mail sent twice across such a
crash is recognisably the same mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from voxpop.store.schema import outbox, subscribers, subscriptions
from voxpop.store.upsert import insert_ignore

QUEUED = "queued"
SENT = "sent"
FAILED = "failed"
DROPPED = "dropped"
DIGEST = "digest"  # waiting for the subscriber's next daily digest
BUNDLED = "bundled"  # carried by a digest row
STATUSES = (QUEUED, SENT, FAILED, DROPPED, DIGEST, BUNDLED)
_INSERT_IGNORING: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    kind: str
    subscriber_id: int
    event: str
    article_id: int | None
    comment_id: int | None
    reason: str | None
    subscription_id: int | None
    reader_id: int | None
    attempts: int
    claimed_until: datetime
    created_at: datetime


def enqueue(
    conn: Connection,
    *,
    kind: str,
    subscriber_id: int,
    event: str,
    now: datetime,
    article_id: int | None = None,
    comment_id: int | None = None,
    reason: str | None = None,
    subscription_id: int | None = None,
    reader_id: int | None = None,
) -> bool:
    """Queue one mail; False when that (subscriber, kind, event) was queued before."""
    result = insert_ignore(
        conn,
        outbox,
        kind=kind,
        subscriber_id=subscriber_id,
        event=event,
        article_id=article_id,
        comment_id=comment_id,
        reason=reason,
        subscription_id=subscription_id,
        reader_id=reader_id,
        status=QUEUED,
        due_at=now,
        attempts=0,
        created_at=now,
    )
    return result.rowcount == 1


def sent_since(conn: Connection, subscriber_id: int, kind: str, since: datetime) -> int:
    """How many mails of a kind an address was sent (or will be) since a moment."""
    stmt = sa.select(sa.func.count()).where(
        outbox.c.subscriber_id == subscriber_id,
        outbox.c.kind == kind,
        outbox.c.created_at > since,
    )
    return int(conn.execute(stmt).scalar_one())


def enqueue_for_comment(
    conn: Connection,
    *,
    article_id: int,
    comment_id: int,
    author_reader: int | None,
    author_email: str | None,
    above: Sequence[tuple[int, int | None]],
    now: datetime,
    digest_due: datetime,
) -> int:
    """Decide who hears of a newly approved comment, as one INSERT … SELECT: confirmed
    subscribers of the whole thread, of replies below their own comments (``above`` is
    every comment above the new one, with its reader) and of replies below one comment.
    One row per address, however many of its subscriptions match; never the author."""
    s = subscriptions.c
    b = subscribers.c
    above_ids = [cid for cid, _reader in above]
    above_readers = sorted({reader for _cid, reader in above if reader is not None})
    matches = [s.scope == "thread"]
    if above_readers:
        matches.append(sa.and_(s.scope == "replies", s.reader_id.in_(above_readers)))
    if above_ids:
        matches.append(sa.and_(s.scope == "comment", s.comment_id.in_(above_ids)))
    conditions = [
        s.article_id == article_id,
        s.confirmed_at.is_not(None),
        b.confirmed_at.is_not(None),
        sa.or_(*matches),
    ]
    if author_reader is not None:
        conditions += [
            sa.or_(s.reader_id.is_(None), s.reader_id != author_reader),
            sa.or_(b.reader_id.is_(None), b.reader_id != author_reader),
        ]
    if author_email:
        conditions.append(b.email != author_email.lower())
    # 'comment' < 'replies' < 'thread': the most specific reason wins.
    instant = sa.func.min(sa.case((s.delivery == "instant", 0), else_=1)) == 0
    select = (
        sa.select(
            sa.literal("notify"),
            s.subscriber_id,
            sa.literal(str(comment_id)),
            sa.literal(article_id),
            sa.literal(comment_id),
            sa.func.min(s.scope),
            sa.func.min(s.id),
            sa.case((instant, sa.literal(QUEUED)), else_=sa.literal(DIGEST)),
            sa.case(
                (instant, sa.literal(now, outbox.c.due_at.type)),
                else_=sa.literal(digest_due, outbox.c.due_at.type),
            ),
            sa.literal(0),
            sa.literal(now, outbox.c.created_at.type),
        )
        .select_from(subscriptions.join(subscribers, b.id == s.subscriber_id))
        .where(*conditions)
        .group_by(s.subscriber_id)
    )
    columns = [
        "kind",
        "subscriber_id",
        "event",
        "article_id",
        "comment_id",
        "reason",
        "subscription_id",
        "status",
        "due_at",
        "attempts",
        "created_at",
    ]
    stmt = _INSERT_IGNORING[conn.dialect.name](outbox).from_select(columns, select)
    return int(conn.execute(stmt.on_conflict_do_nothing()).rowcount)


# -- the worker's side -------------------------------------------------------------------


def claim(
    conn: Connection, worker: str, now: datetime, until: datetime, limit: int
) -> list[Claimed]:
    """Take up to ``limit`` due mails for ``worker`` until ``until`` (its lease)."""
    o = outbox.c
    due = (
        sa.select(o.id)
        .where(
            o.status == QUEUED,
            o.due_at <= now,
            sa.or_(o.claimed_until.is_(None), o.claimed_until < now),
        )
        .order_by(o.due_at, o.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        sa.update(outbox)
        .where(o.id.in_(due.scalar_subquery()))
        .values(claimed_by=worker, claimed_until=until, attempts=o.attempts + 1)
        .returning(
            o.id,
            o.kind,
            o.subscriber_id,
            o.event,
            o.article_id,
            o.comment_id,
            o.reason,
            o.subscription_id,
            o.reader_id,
            o.attempts,
            o.claimed_until,
            o.created_at,
        )
    )
    rows = conn.execute(stmt).all()
    claimed = [Claimed(*row) for row in rows]
    claimed.sort(key=lambda c: c.id)
    return claimed


def _mine(row_id: int, worker: str) -> Any:
    return sa.and_(outbox.c.id == row_id, outbox.c.claimed_by == worker)


_MARK_SENT = (
    sa.update(outbox)
    .where(
        outbox.c.id.in_(sa.bindparam("ids", expanding=True)),
        outbox.c.claimed_by == sa.bindparam("worker"),
    )
    .values(status=SENT, sent_at=sa.bindparam("now"), claimed_until=None, last_error=None)
)


def mark_sent(conn: Connection, row_ids: Sequence[int], worker: str, now: datetime) -> int:
    """Record mails the server accepted; returns how many were still this worker's (a
    lease lost meanwhile makes it fewer)."""
    result = conn.execute(_MARK_SENT, {"ids": list(row_ids), "worker": worker, "now": now})
    return int(result.rowcount)


def mark_dropped(conn: Connection, row_id: int, worker: str, reason: str) -> None:
    """Nothing to send any more (the comment was removed, the address unsubscribed)."""
    conn.execute(
        sa.update(outbox)
        .where(_mine(row_id, worker))
        .values(status=DROPPED, claimed_until=None, last_error=reason[:500])
    )


def mark_retry(
    conn: Connection, row_id: int, worker: str, error: str, due: datetime | None
) -> None:
    """Give the row back to be tried at ``due``; None: give up (status ``failed``)."""
    values: dict[str, Any] = {"claimed_by": None, "claimed_until": None, "last_error": error[:500]}
    if due is None:
        values["status"] = FAILED
    else:
        values["due_at"] = due
    conn.execute(sa.update(outbox).where(_mine(row_id, worker)).values(**values))


def release(conn: Connection, row_ids: Sequence[int], worker: str) -> None:
    """Hand back claimed rows untouched (a worker stopping before it sent them)."""
    if row_ids:
        conn.execute(
            sa.update(outbox)
            .where(outbox.c.id.in_(list(row_ids)), outbox.c.claimed_by == worker)
            .values(claimed_by=None, claimed_until=None, attempts=outbox.c.attempts - 1)
        )


def digests_due(conn: Connection, now: datetime) -> bool:
    stmt = sa.select(outbox.c.id).where(outbox.c.status == DIGEST, outbox.c.due_at <= now)
    return conn.execute(stmt.limit(1)).first() is not None


def bundle_digests(conn: Connection, now: datetime, limit: int = 500) -> int:
    """Turn each address's due digest items into one queued digest mail; return how many
    digests were made. Replaying it makes none twice (the digest's event is the id of
    the last item it carries)."""
    o = outbox.c
    due = conn.execute(
        sa.select(o.subscriber_id, sa.func.max(o.id).label("last"))
        .where(o.status == DIGEST, o.due_at <= now)
        .group_by(o.subscriber_id)
        .order_by(o.subscriber_id)  # the same order in every worker: no deadlock
        .limit(limit)
    ).all()
    made = 0
    for subscriber_id, last in due:
        enqueue(conn, kind="digest", subscriber_id=subscriber_id, event=f"upto-{last}", now=now)
        digest_id = conn.execute(
            sa.select(o.id).where(
                o.subscriber_id == subscriber_id, o.kind == "digest", o.event == f"upto-{last}"
            )
        ).scalar_one()
        conn.execute(
            sa.update(outbox)
            .where(
                o.subscriber_id == subscriber_id,
                o.status == DIGEST,
                o.due_at <= now,
                o.id <= last,
            )
            .values(status=BUNDLED, digest_id=digest_id)
        )
        made += 1
    return made


def digest_items(conn: Connection, digest_ids: Sequence[int]) -> dict[int, list[int]]:
    """digest id → the comment ids it carries, oldest first."""
    out: dict[int, list[int]] = {}
    if not digest_ids:
        return out
    rows = conn.execute(
        sa.select(outbox.c.digest_id, outbox.c.comment_id)
        .where(outbox.c.digest_id.in_(list(digest_ids)))
        .order_by(outbox.c.id)
    )
    for digest_id, comment_id in rows:
        if comment_id is not None:
            out.setdefault(int(digest_id), []).append(int(comment_id))
    return out


# -- operators ---------------------------------------------------------------------------


def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status))
    found = {str(status): int(n) for status, n in rows}
    return {status: found.get(status, 0) for status in STATUSES}


def listing(conn: Connection, status: str | None, before: int | None, limit: int) -> list[Any]:
    o = outbox.c
    stmt = (
        sa.select(
            o.id,
            o.kind,
            o.status,
            o.attempts,
            o.last_error,
            o.due_at,
            o.sent_at,
            o.created_at,
            o.article_id,
            o.comment_id,
            o.reason,
            subscribers.c.email,
        )
        .join(subscribers, subscribers.c.id == o.subscriber_id)
        .order_by(o.id.desc())
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(o.status == status)
    if before is not None:
        stmt = stmt.where(o.id < before)
    return list(conn.execute(stmt).mappings())


def requeue(table: sa.Table, row_ids: Sequence[int] | None, now: datetime) -> sa.Update:
    """The statement that queues a queue table's failed rows (given ones, or all) again,
    due now, with a fresh attempt count; given queued ones (waiting for a retry) are made
    due now. A queued row a worker holds may be on its way out: it is left to the worker.
    Shared by the mail outbox and the webhook calls (the same columns and statuses)."""
    t = table.c
    unheld = sa.or_(t.claimed_until.is_(None), t.claimed_until < now)
    stmt = (
        sa.update(table)
        .where(sa.or_(t.status == FAILED, sa.and_(t.status == QUEUED, unheld)))
        .values(status=QUEUED, due_at=now, attempts=0, claimed_by=None, claimed_until=None)
    )
    if row_ids is None:
        return stmt.where(t.status == FAILED)
    return stmt.where(t.id.in_(list(row_ids)))


def retry(conn: Connection, row_ids: Sequence[int] | None, now: datetime) -> int:
    """Queue failed mails (given ones, or all) again: see ``requeue``."""
    return int(conn.execute(requeue(outbox, row_ids, now)).rowcount)


def prune(conn: Connection, before: datetime, confirm_before: datetime, limit: int = 1000) -> int:
    """Forget what no longer matters, a bounded slice at a time: mails finished before
    ``before``, and subscriptions never confirmed whose last confirmation link (sent
    before ``confirm_before``) has expired. Returns how many rows went."""
    o = outbox.c
    digest = outbox.alias("digest")
    carried_out = (  # a bundled row goes once its digest is finished (or gone)
        sa.select(digest.c.id)
        .where(digest.c.id == o.digest_id, digest.c.status.in_([QUEUED, FAILED]))
        .exists()
    )
    done = (
        sa.select(o.id)
        .where(
            sa.or_(o.status.in_([SENT, DROPPED]), sa.and_(o.status == BUNDLED, ~carried_out)),
            o.created_at < before,
        )
        .limit(limit)
    )
    gone = int(conn.execute(sa.delete(outbox).where(o.id.in_(done.scalar_subquery()))).rowcount)
    s = subscriptions.c
    recent_link = (
        sa.select(o.id)
        .where(o.subscription_id == s.id, o.kind == "confirm", o.created_at >= confirm_before)
        .exists()
    )
    stale = (
        sa.select(s.id)
        .where(s.confirmed_at.is_(None), s.created_at < confirm_before, ~recent_link)
        .limit(limit)
    )
    gone += int(
        conn.execute(sa.delete(subscriptions).where(s.id.in_(stale.scalar_subquery()))).rowcount
    )
    return gone
