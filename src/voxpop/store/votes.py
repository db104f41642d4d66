"""Votes: one per reader and comment, changeable."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.schema import comments, votes


def get(conn: Connection, comment_id: int, reader_id: int) -> int:
    value = conn.execute(
        sa.select(votes.c.value).where(
            votes.c.comment_id == comment_id, votes.c.reader_id == reader_id
        )
    ).scalar()
    return int(value) if value is not None else 0


def set(conn: Connection, comment_id: int, reader_id: int, value: int) -> None:
    where = (votes.c.comment_id == comment_id, votes.c.reader_id == reader_id)
    if value == 0:
        conn.execute(sa.delete(votes).where(*where))
        return
    updated = conn.execute(sa.update(votes).where(*where).values(value=value)).rowcount
    if not updated:
        conn.execute(
            sa.insert(votes).values(
                comment_id=comment_id,
                reader_id=reader_id,
                value=value,
                created_at=datetime.now(UTC),
            )
        )


def mine(conn: Connection, reader_id: int, article_id: int) -> dict[int, int]:
    """The reader's votes on one article's comments."""
    rows = conn.execute(
        sa.select(votes.c.comment_id, votes.c.value)
        .join(comments, comments.c.id == votes.c.comment_id)
        .where(votes.c.reader_id == reader_id, comments.c.article_id == article_id)
    ).all()
    return {int(r.comment_id): int(r.value) for r in rows}
