"""The live-update log (``events``): written in each change's transaction, numbered in the
order changes became visible, read by every server process to feed its event streams.

Numbers are never given twice: the highest numbered row is never deleted (pruning keeps
it; erasure and takedowns rewrite rows into tombstones instead of deleting them), so
``max(seq) + 1`` always lies above every number handed out.

SQLite has one writer at a time, so a row takes its number (``seq``) as it is written.
PostgreSQL commits concurrent transactions in any order: rows are written without a
number, and ``sequence`` numbers them after their commit, one sequencer at a time (a
transaction-level advisory lock), so that once a reader sees number N every row below N
is visible too and ``seq > last`` never skips a row that commits late.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.schema import articles, events

# pg_advisory_xact_lock key of the sequencer ("voxpop events").
_LOCK = 0x766F7870_6576
_NEXT_SQLITE = sa.select(sa.func.coalesce(sa.func.max(events.c.seq), 0) + 1).scalar_subquery()


def add(
    conn: Connection,
    article_id: int,
    kind: str,
    data: str,
    now: datetime,
    comment_id: int | None = None,
) -> None:
    values: dict[str, Any] = {
        "article_id": article_id,
        "kind": kind,
        "comment_id": comment_id,
        "data": data,
        "created_at": now,
    }
    if conn.dialect.name == "sqlite":
        values["seq"] = _NEXT_SQLITE
    conn.execute(events.insert().values(**values))


def sequence(conn: Connection, batch: int = 1000) -> int:
    """Number the rows committed without a number (PostgreSQL); how many were numbered.

    One sequencer at a time (a transaction-level advisory lock, held to the commit).
    """
    if conn.dialect.name != "postgresql":
        return 0
    # Blocking: the holder numbers what it sees in a moment and lets go; waiting for it
    # (rather than giving up) numbers what committed after its snapshot at once.
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    # Numbers continue from the highest given, in the order the rows were written.
    result = conn.execute(
        sa.text(
            "UPDATE events SET seq = n.seq FROM ("
            " SELECT id, (SELECT coalesce(max(seq), 0) FROM events)"
            " + row_number() OVER (ORDER BY id) AS seq"
            " FROM events WHERE seq IS NULL ORDER BY id LIMIT :batch"
            ") AS n WHERE events.id = n.id"
        ),
        {"batch": batch},
    )
    return int(result.rowcount or 0)


def unsequenced(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    waiting = sa.select(events.c.id).where(events.c.seq.is_(None)).limit(1)
    return conn.execute(waiting).first() is not None


def since(conn: Connection, after: int, limit: int) -> Sequence[sa.Row[Any]]:
    """Numbered rows after ``after``, in order: (seq, site_id, uri, kind, data)."""
    return conn.execute(
        sa.select(events.c.seq, articles.c.site_id, articles.c.uri, events.c.kind, events.c.data)
        .join(articles, articles.c.id == events.c.article_id)
        .where(events.c.seq > after)
        .order_by(events.c.seq)
        .limit(limit)
    ).all()


def of_article(conn: Connection, article_id: int, after: int, limit: int) -> Sequence[sa.Row[Any]]:
    """An article's numbered rows after ``after``, in order: (seq, article_id, kind, data)."""
    return conn.execute(
        sa.select(events.c.seq, events.c.article_id, events.c.kind, events.c.data)
        .where(events.c.article_id == article_id, events.c.seq > after)
        .order_by(events.c.seq)
        .limit(limit)
    ).all()


def bounds(conn: Connection) -> tuple[int, int]:
    """(lowest, highest) number kept; (0, 0) when none."""
    row = conn.execute(sa.select(sa.func.min(events.c.seq), sa.func.max(events.c.seq))).one()
    return int(row[0] or 0), int(row[1] or 0)


def last(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.max(events.c.seq))).scalar() or 0)


def prune(conn: Connection, before: datetime, batch: int = 5000) -> int:
    """Delete numbered rows older than ``before`` (at most ``batch``), but never the
    highest: it keeps the numbering above every number given."""
    top = sa.select(sa.func.max(events.c.seq)).scalar_subquery()
    old = (
        sa.select(events.c.id)
        .where(events.c.created_at < before, events.c.seq.is_not(None), events.c.seq < top)
        .order_by(events.c.id)
        .limit(batch)
        .scalar_subquery()
    )
    return int(conn.execute(events.delete().where(events.c.id.in_(old))).rowcount or 0)


_SHOWN = ("comment", "edit")


def tombstone(conn: Connection, comment_id: int) -> None:
    """The comment is gone from view (deleted, held, spam, erased): its earlier rows keep
    their place and number but say only that (``remove``), so that a replay never shows
    text or a name readers can no longer see."""
    conn.execute(
        events.update()
        .where(events.c.comment_id == comment_id, events.c.kind.in_((*_SHOWN, "vote")))
        .values(kind="remove", data=f'{{"id":{int(comment_id)}}}')
    )


def restate(conn: Connection, comment_id: int, data: str) -> None:
    """The comment's text changed: its earlier rows show it as it is now."""
    conn.execute(
        events.update()
        .where(events.c.comment_id == comment_id, events.c.kind.in_(_SHOWN))
        .values(data=data)
    )
