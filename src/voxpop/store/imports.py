"""What imports need of the database: the source keys already brought in, comments as
they were (status, dates and counters given, no policy), and the counts put right after."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.schema import articles, comments, imported

_INSERT_COMMENT = sa.insert(comments).returning(comments.c.id)
_INSERT_KEY = sa.insert(imported)
_CHUNK = 500


def known(conn: Connection, source: str, keys: Sequence[str]) -> dict[str, int]:
    """key → local id of those of ``keys`` this source already brought in."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), _CHUNK):
        part = keys[start : start + _CHUNK]
        stmt = sa.select(imported.c.key, imported.c.local_id).where(
            imported.c.source == source, imported.c.key.in_(part)
        )
        found.update({str(r.key): int(r.local_id) for r in conn.execute(stmt)})
    return found


def remember(conn: Connection, source: str, rows: list[tuple[str, int]], now: datetime) -> None:
    if rows:
        conn.execute(
            _INSERT_KEY,
            [{"source": source, "key": k, "local_id": i, "created_at": now} for k, i in rows],
        )


def insert_comment(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(_INSERT_COMMENT, values).scalar_one())


def placement(conn: Connection, comment_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """id → (the id of its top-level comment (itself when it is one), its article id)."""
    ids = sorted(set(comment_ids))
    out: dict[int, tuple[int, int]] = {}
    c = comments.c
    for start in range(0, len(ids), _CHUNK):
        stmt = sa.select(c.id, c.root_id, c.article_id).where(c.id.in_(ids[start : start + _CHUNK]))
        out.update(
            {int(r.id): (int(r.root_id or r.id), int(r.article_id)) for r in conn.execute(stmt)}
        )
    return out


def article_of(conn: Connection, comment_id: int) -> int | None:
    value = conn.execute(
        sa.select(comments.c.article_id).where(comments.c.id == comment_id)
    ).scalar()
    return None if value is None else int(value)


def parent_of(conn: Connection, comment_id: int) -> int | None:
    value = conn.execute(
        sa.select(comments.c.parent_id).where(comments.c.id == comment_id)
    ).scalar()
    return None if value is None else int(value)


def set_parent(conn: Connection, comment_id: int, parent_id: int) -> None:
    conn.execute(sa.update(comments).where(comments.c.id == comment_id).values(parent_id=parent_id))


def move_subtree(conn: Connection, comment_id: int, root_id: int) -> None:
    """Give a comment that was top-level, and every reply below it, a new top-level one."""
    conn.execute(sa.update(comments).where(comments.c.id == comment_id).values(root_id=root_id))
    conn.execute(
        sa.update(comments).where(comments.c.root_id == comment_id).values(root_id=root_id)
    )


def recount(conn: Connection, article_ids: Iterable[int]) -> None:
    """Set each article's visible-comment count from its comments, and bump its version
    (every cache of its thread is then stale)."""
    approved = (
        sa.select(sa.func.count())
        .where(comments.c.article_id == articles.c.id, comments.c.status == "approved")
        .scalar_subquery()
    )
    ids = sorted(set(article_ids))
    for start in range(0, len(ids), _CHUNK):
        conn.execute(
            sa.update(articles)
            .where(articles.c.id.in_(ids[start : start + _CHUNK]))
            .values(comment_count=approved, version=articles.c.version + 1)
        )


def close(conn: Connection, article_id: int, when: datetime) -> None:
    conn.execute(
        sa.update(articles)
        .where(articles.c.id == article_id, articles.c.closed_at.is_(None))
        .values(closed_at=when)
    )
