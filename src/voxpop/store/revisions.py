"""Article revisions, and the inline feedback anchored to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.schema import articles, comments, revisions


@dataclass(frozen=True, slots=True)
class Revision:
    number: int
    text: str
    text_hash: str
    questions: list[dict[str, Any]]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Feedback:
    """A comment with an anchor, as re-anchoring needs it."""

    id: int
    status: str
    anchor: dict[str, Any]


_LATEST = (
    sa.select(revisions)
    .where(revisions.c.article_id == sa.bindparam("article_id"))
    .order_by(revisions.c.number.desc())
    .limit(1)
)


def _revision(row: Any) -> Revision:
    return Revision(
        int(row.number), row.text, row.text_hash, list(row.questions or []), row.created_at
    )


def latest(conn: Connection, article_id: int) -> Revision | None:
    row = conn.execute(_LATEST, {"article_id": article_id}).first()
    return _revision(row) if row else None


def insert(
    conn: Connection,
    article_id: int,
    number: int,
    text: str,
    text_hash: str,
    questions: list[dict[str, Any]],
    now: datetime,
) -> None:
    conn.execute(
        sa.insert(revisions).values(
            article_id=article_id,
            number=number,
            text=text,
            text_hash=text_hash,
            questions=questions,
            created_at=now,
        )
    )
    conn.execute(sa.update(articles).where(articles.c.id == article_id).values(revision=number))


def feedback(conn: Connection, article_id: int) -> list[Feedback]:
    """Every comment of the article with an anchor, deleted ones excepted."""
    rows = conn.execute(
        sa.select(comments.c.id, comments.c.status, comments.c.anchor)
        .where(
            comments.c.article_id == article_id,
            comments.c.anchor.is_not(None),
            comments.c.status != "deleted",
        )
        .order_by(comments.c.id)
    ).all()
    return [Feedback(int(r.id), str(r.status), dict(r.anchor)) for r in rows]


_SET_ANCHOR = (
    sa.update(comments)
    .where(comments.c.id == sa.bindparam("b_id"))
    .values(
        anchor=sa.bindparam("b_anchor", type_=comments.c.anchor.type),
        anchor_state=sa.bindparam("b_state"),
    )
)


def set_anchors(conn: Connection, anchors: dict[int, dict[str, Any]]) -> None:
    """Store re-anchored anchors (one executemany)."""
    if anchors:
        conn.execute(
            _SET_ANCHOR,
            [{"b_id": k, "b_anchor": v, "b_state": v["state"]} for k, v in anchors.items()],
        )


def set_questions(
    conn: Connection, article_id: int, number: int, questions: list[dict[str, Any]]
) -> None:
    conn.execute(
        sa.update(revisions)
        .where(revisions.c.article_id == article_id, revisions.c.number == number)
        .values(questions=questions)
    )


def feedback_one(conn: Connection, comment_id: int) -> tuple[int, Feedback] | None:
    """(article id, the feedback) of one comment with an anchor."""
    row = conn.execute(
        sa.select(comments.c.id, comments.c.article_id, comments.c.status, comments.c.anchor).where(
            comments.c.id == comment_id, comments.c.anchor.is_not(None)
        )
    ).first()
    if row is None or row.status == "deleted":
        return None
    return int(row.article_id), Feedback(int(row.id), str(row.status), dict(row.anchor))


def lost(
    conn: Connection, site_id: int, uri: str | None, limit: int = 500
) -> list[tuple[str, int, dict[str, Any]]]:
    """Feedback whose passage was lost (orphaned or ambiguous), newest first."""
    query = (
        sa.select(articles.c.uri, comments.c.id, comments.c.anchor)
        .join(articles, articles.c.id == comments.c.article_id)
        .where(
            comments.c.anchor_state.in_(("orphaned", "ambiguous")),
            comments.c.status != "deleted",
            articles.c.site_id == site_id,
        )
        .order_by(comments.c.id.desc())
        .limit(limit)
    )
    if uri is not None:
        query = query.where(articles.c.uri == uri)
    return [(str(r.uri), int(r.id), dict(r.anchor)) for r in conn.execute(query)]
