"""Feeds: the newest comments of an article or of a site, as readers see them.

Only approved comments, and of those only the ones the thread shows: a reply whose
top-level comment is held (pending, rejected, spam, shadowed) is hidden with it.
Newest first, ``(created_at, id)`` descending.

Both walk an index newest first and stop after ``limit`` shown rows: an article's feed
``ix_comments_article_status (article_id, status, created_at, id)``, a site's
``ix_comments_site_status (site_id, status, created_at, id)``. Neither reads another
article's or site's comments; each reads its own hidden replies (one primary-key lookup
of the top-level comment each).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.model import CommentStatus
from voxpop.store.schema import articles, comments


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One comment of a feed, with what the feed says of its article."""

    id: int
    parent_id: int | None
    author_name: str | None
    html: str
    created_at: datetime
    edited_at: datetime | None
    article_id: int
    article_uri: str
    article_title: str
    # Bumped by every change to the article's thread: what a feed's version is made of.
    article_version: int


_c = comments.c
_root = comments.alias("root")
_SHOWN_ROOT = (CommentStatus.APPROVED.value, CommentStatus.DELETED.value)

# Statements are built once: SQLAlchemy then reuses their compiled form.
_NEWEST = (
    sa.select(
        _c.id,
        _c.parent_id,
        _c.author_name,
        _c.html,
        _c.created_at,
        _c.edited_at,
        articles.c.id.label("article_id"),
        articles.c.uri.label("article_uri"),
        articles.c.title.label("article_title"),
        articles.c.version.label("article_version"),
    )
    .select_from(
        comments.join(articles, articles.c.id == _c.article_id).outerjoin(
            _root, _root.c.id == _c.root_id
        )
    )
    .where(
        _c.status == CommentStatus.APPROVED.value,
        # A deleted top-level comment stays in its thread while replies hang below it.
        sa.or_(_c.root_id.is_(None), _root.c.status.in_(_SHOWN_ROOT)),
    )
    .order_by(_c.created_at.desc(), _c.id.desc())
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
_OF_ARTICLE = _NEWEST.where(_c.article_id == sa.bindparam("article_id", type_=sa.Integer))
_OF_SITE = _NEWEST.where(_c.site_id == sa.bindparam("site_id", type_=sa.Integer))


def _item(row: Any) -> FeedItem:
    return FeedItem(
        id=int(row.id),
        parent_id=row.parent_id,
        author_name=row.author_name,
        html=row.html,
        created_at=row.created_at,
        edited_at=row.edited_at,
        article_id=int(row.article_id),
        article_uri=row.article_uri,
        article_title=row.article_title,
        article_version=int(row.article_version),
    )


def of_article(conn: Connection, article_id: int, limit: int) -> list[FeedItem]:
    """The article's newest ``limit`` shown comments, replies included."""
    rows = conn.execute(_OF_ARTICLE, {"article_id": article_id, "limit": limit})
    return [_item(r) for r in rows]


def of_site(conn: Connection, site_id: int, limit: int) -> list[FeedItem]:
    """The site's newest ``limit`` shown comments, across its articles."""
    rows = conn.execute(_OF_SITE, {"site_id": site_id, "limit": limit})
    return [_item(r) for r in rows]
