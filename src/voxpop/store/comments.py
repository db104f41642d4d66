"""Comments: insert, change, and read a thread page in two queries (tops, then replies)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.model import Author, Comment, CommentStatus, Filter, Sort
from voxpop.store.direct import Direct
from voxpop.store.schema import comments

_COLS = (
    comments.c.id,
    comments.c.article_id,
    comments.c.parent_id,
    comments.c.root_id,
    comments.c.reader_id,
    comments.c.author_name,
    comments.c.author_website,
    comments.c.body,
    comments.c.html,
    comments.c.status,
    comments.c.created_at,
    comments.c.edited_at,
    comments.c.up,
    comments.c.down,
    comments.c.score,
    comments.c.anchor,
)

LISTED = (CommentStatus.APPROVED.value, CommentStatus.DELETED.value)


def _comment(row: Any) -> Comment:
    return Comment(
        id=row.id,
        article_id=row.article_id,
        parent_id=row.parent_id,
        root_id=row.root_id,
        reader_id=row.reader_id,
        author=Author(row.author_name, row.author_website),
        body=row.body,
        html=row.html,
        status=CommentStatus(row.status),
        created_at=row.created_at,
        edited_at=row.edited_at,
        up=row.up,
        down=row.down,
        anchor=row.anchor,
    )


# Statements on hot paths are built once: SQLAlchemy then reuses their compiled form.
_INSERT = sa.insert(comments).returning(*_COLS)
_GET = sa.select(*_COLS).where(comments.c.id == sa.bindparam("id"))
# FOR NO KEY UPDATE on PostgreSQL (what an UPDATE of the row takes anyway): FOR UPDATE
# would also wait for, and deadlock with, the KEY SHARE locks that inserting a vote or
# reply referring to the comment takes. SQLite ignores it.
_GET_FOR_UPDATE = _GET.with_for_update(key_share=True)
_ARTICLE_OF = sa.select(comments.c.article_id).where(comments.c.id == sa.bindparam("id"))
_ADD_VOTES = (
    sa.update(comments)
    .where(comments.c.id == sa.bindparam("b_id"))
    .values(
        up=comments.c.up + sa.bindparam("d_up", type_=sa.Integer),
        down=comments.c.down + sa.bindparam("d_down", type_=sa.Integer),
    )
    .returning(comments.c.up, comments.c.down)
)
_SET_SCORE = (
    sa.update(comments)
    .where(comments.c.id == sa.bindparam("b_id"))
    .values(score=sa.bindparam("score", type_=sa.Float))
)


@cache
def _insert_direct(columns: tuple[str, ...]) -> Direct:
    return Direct(
        sa.insert(comments)
        .values({name: sa.bindparam(name, type_=comments.c[name].type) for name in columns})
        .returning(comments.c.id)
    )


def insert(conn: Connection, **values: Any) -> Comment:
    """Insert a comment and return it as stored. Without an anchor (a comment, not
    feedback) on the driver's cursor (store/direct.py): every column the comment has but
    its id is either given or a server default known here (no votes, never edited)."""
    if values.get("anchor") is not None:
        return _comment(conn.execute(_INSERT, values).one())
    row = _insert_direct(tuple(sorted(values))).one(conn, values)
    return Comment(
        id=int(row[0]),
        article_id=values["article_id"],
        parent_id=values.get("parent_id"),
        root_id=values.get("root_id"),
        reader_id=values.get("reader_id"),
        author=Author(values.get("author_name"), values.get("author_website")),
        body=values["body"],
        html=values["html"],
        status=CommentStatus(values["status"]),
        created_at=values["created_at"].astimezone(UTC),
        edited_at=None,
        up=0,
        down=0,
        anchor=None,
    )


def get(conn: Connection, comment_id: int) -> Comment | None:
    row = conn.execute(_GET, {"id": comment_id}).first()
    return _comment(row) if row else None


def get_for_update(conn: Connection, comment_id: int) -> Comment | None:
    row = conn.execute(_GET_FOR_UPDATE, {"id": comment_id}).first()
    return _comment(row) if row else None


def update(conn: Connection, comment_id: int, **values: Any) -> None:
    conn.execute(sa.update(comments).where(comments.c.id == comment_id).values(**values))


def add_votes(conn: Connection, comment_id: int, up: int, down: int) -> tuple[int, int]:
    """Change the counters atomically (no lost update); return the new (up, down)."""
    row = conn.execute(_ADD_VOTES, {"b_id": comment_id, "d_up": up, "d_down": down}).one()
    return int(row.up), int(row.down)


def set_score(conn: Connection, comment_id: int, score: float) -> None:
    conn.execute(_SET_SCORE, {"b_id": comment_id, "score": score})


def top_level(
    conn: Connection,
    article_id: int,
    sort: Sort,
    after: tuple[Any, int] | None,
    limit: int,
    filter_: Filter,
) -> list[Comment]:
    """Up to ``limit`` listed top-level comments after the keyset position ``after``."""
    c = comments.c
    reply = comments.alias("reply")
    # A deleted comment is listed (as a placeholder) only while replies hang below it,
    # decided here so that a page is never short of ``limit`` visible comments. A scalar
    # subquery with LIMIT 1, not EXISTS: under the OR, PostgreSQL may run an EXISTS as a
    # hashed subplan, which reads every approved reply of the whole table once to build
    # its hash; this one is one probe of ix_comments_root, for deleted comments only.
    first_reply = (
        sa.select(reply.c.id)
        .where(reply.c.root_id == c.id, reply.c.status == CommentStatus.APPROVED.value)
        .limit(1)
        .correlate(comments)
        .scalar_subquery()
    )
    stmt = sa.select(*_COLS).where(
        c.article_id == article_id,
        c.root_id.is_(None),
        sa.or_(
            c.status == CommentStatus.APPROVED.value,
            sa.and_(c.status == CommentStatus.DELETED.value, first_reply.is_not(None)),
        ),
    )
    if filter_ is Filter.FEEDBACK:
        stmt = stmt.where(c.anchor.is_not(None))
    if sort is Sort.BEST:
        if after is not None:
            score, last = after
            stmt = stmt.where(sa.or_(c.score < score, sa.and_(c.score == score, c.id > last)))
        stmt = stmt.order_by(c.score.desc(), c.id.asc())
    elif sort is Sort.NEW:
        if after is not None:
            at, last = after
            stmt = stmt.where(sa.or_(c.created_at < at, sa.and_(c.created_at == at, c.id < last)))
        stmt = stmt.order_by(c.created_at.desc(), c.id.desc())
    else:
        if after is not None:
            at, last = after
            stmt = stmt.where(sa.or_(c.created_at > at, sa.and_(c.created_at == at, c.id > last)))
        stmt = stmt.order_by(c.created_at.asc(), c.id.asc())
    return [_comment(r) for r in conn.execute(stmt.limit(limit))]


def replies(conn: Connection, root_ids: Sequence[int]) -> list[Comment]:
    """Every listed reply below the given top-level comments, oldest first: one query."""
    if not root_ids:
        return []
    c = comments.c
    out: list[Comment] = []
    ids = list(root_ids)
    for i in range(0, len(ids), 500):  # stay far below any bind-parameter limit
        stmt = (
            sa.select(*_COLS)
            .where(c.root_id.in_(ids[i : i + 500]), c.status.in_(LISTED))
            .order_by(c.created_at.asc(), c.id.asc())
        )
        out.extend(_comment(r) for r in conn.execute(stmt))
    return out


def by_reader(conn: Connection, article_id: int, reader_id: int) -> list[Comment]:
    stmt = sa.select(*_COLS).where(
        comments.c.article_id == article_id, comments.c.reader_id == reader_id
    )
    return [_comment(r) for r in conn.execute(stmt)]


def ancestors(conn: Connection, parent_id: int) -> list[tuple[int, int | None]]:
    """(id, reader id) of a comment's parent and every comment above it: one recursive
    query, whatever the depth."""
    c = comments.c
    chain = (
        sa.select(c.id, c.parent_id, c.reader_id)
        .where(c.id == parent_id)
        .cte("chain", recursive=True)
    )
    up = chain.alias("up")
    chain = chain.union_all(
        sa.select(c.id, c.parent_id, c.reader_id).join(up, c.id == up.c.parent_id)
    )
    return [
        (int(r.id), r.reader_id) for r in conn.execute(sa.select(chain.c.id, chain.c.reader_id))
    ]


def author_email(conn: Connection, comment_id: int) -> str | None:
    value = conn.execute(
        sa.select(comments.c.author_email).where(comments.c.id == comment_id)
    ).scalar()
    return str(value) if value else None


def for_mail(conn: Connection, comment_ids: Sequence[int]) -> dict[int, Any]:
    """What notification mails show of comments, with the name of whom each replies to."""
    if not comment_ids:
        return {}
    parent = comments.alias("parent")
    base = sa.select(
        comments.c.id,
        comments.c.article_id,
        comments.c.parent_id,
        comments.c.status,
        comments.c.author_name,
        comments.c.body,
        comments.c.html,
        comments.c.created_at,
        parent.c.author_name.label("parent_author"),
    ).outerjoin(parent, parent.c.id == comments.c.parent_id)
    ids = sorted(set(comment_ids))
    found: dict[int, Any] = {}
    for i in range(0, len(ids), 500):  # stay far below any bind-parameter limit
        stmt = base.where(comments.c.id.in_(ids[i : i + 500]))
        found.update((int(r.id), r) for r in conn.execute(stmt))
    return found


def article_of(conn: Connection, comment_id: int) -> int | None:
    """The comment's article id (no lock), to lock the article before the comment."""
    found = conn.execute(_ARTICLE_OF, {"id": comment_id}).scalar()
    return None if found is None else int(found)
