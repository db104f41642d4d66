"""Articles: addressed by (site, uri); their version keys every cache of their thread."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.model import Article
from voxpop.store.direct import Direct
from voxpop.store.schema import articles, comments
from voxpop.store.upsert import insert_ignore

_COLS = (
    articles.c.id,
    articles.c.site_id,
    articles.c.uri,
    articles.c.title,
    articles.c.version,
    articles.c.comment_count,
    articles.c.created_at,
    articles.c.revision,
)


# Statements on hot paths are built once: SQLAlchemy then reuses their compiled form.
_GET = sa.select(*_COLS).where(
    articles.c.site_id == sa.bindparam("site_id"), articles.c.uri == sa.bindparam("uri")
)
_VERSION = sa.select(articles.c.version).where(
    articles.c.site_id == sa.bindparam("site_id"), articles.c.uri == sa.bindparam("uri")
)
# Every write of an article's comments bumps it: on the driver's cursor (store/direct.py).
_TOUCH = Direct(
    sa.update(articles)
    .where(articles.c.id == sa.bindparam("article_id"))
    .values(
        version=articles.c.version + 1,
        comment_count=articles.c.comment_count + sa.bindparam("delta", type_=sa.Integer),
    )
)


def _article(row: Any) -> Article:
    return Article(
        id=row.id,
        site_id=row.site_id,
        uri=row.uri,
        title=row.title,
        version=row.version,
        comment_count=row.comment_count,
        created_at=row.created_at,
        revision=row.revision,
    )


def get(conn: Connection, site_id: int, uri: str) -> Article | None:
    row = conn.execute(_GET, {"site_id": site_id, "uri": uri}).first()
    return _article(row) if row else None


def by_id(conn: Connection, article_id: int) -> Article | None:
    row = conn.execute(sa.select(*_COLS).where(articles.c.id == article_id)).first()
    return _article(row) if row else None


def by_ids(conn: Connection, article_ids: Sequence[int]) -> dict[int, Article]:
    if not article_ids:
        return {}
    stmt = sa.select(*_COLS).where(articles.c.id.in_(sorted(set(article_ids))))
    return {int(r.id): _article(r) for r in conn.execute(stmt)}


def version(conn: Connection, site_id: int, uri: str) -> int | None:
    """The article's version alone: the cheap check in front of a cached thread."""
    value = conn.execute(_VERSION, {"site_id": site_id, "uri": uri}).scalar()
    return None if value is None else int(value)


def get_or_create(conn: Connection, site_id: int, uri: str, title: str) -> Article:
    found = get(conn, site_id, uri)
    if found:
        if title and not found.title:
            conn.execute(sa.update(articles).where(articles.c.id == found.id).values(title=title))
        return found
    insert_ignore(
        conn, articles, site_id=site_id, uri=uri, title=title, created_at=datetime.now(UTC)
    )
    created = get(conn, site_id, uri)
    assert created is not None
    return created


def set_title(conn: Connection, article_id: int, title: str) -> None:
    conn.execute(sa.update(articles).where(articles.c.id == article_id).values(title=title))


_LOCK = (
    sa.select(articles.c.id)
    .where(articles.c.id == sa.bindparam("article_id"))
    .with_for_update(key_share=True)
)


def lock(conn: Connection, article_id: int) -> None:
    """Lock the article's row first (PostgreSQL; SQLite has one writer anyway): writers
    that change an article and one of its comments take the article first, so that two
    processes' transactions never hold them crosswise (a deadlock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK, {"article_id": article_id})


def touch(conn: Connection, article_id: int, count_delta: int = 0) -> None:
    """Bump the version (and the visible-comment count) in the writer's transaction."""
    _TOUCH.run(conn, {"article_id": article_id, "delta": count_delta})


_FEEDBACK = (
    sa.select(sa.func.count())
    .where(
        comments.c.article_id == articles.c.id,
        comments.c.status == "approved",
        comments.c.anchor.is_not(None),
    )
    .scalar_subquery()
)
_SUMMARY = sa.select(
    articles.c.uri,
    articles.c.comment_count,
    _FEEDBACK.label("feedback"),
    articles.c.rating_count,
    articles.c.rating_sum,
    *(articles.c[f"rating_{stars}"] for stars in range(1, 6)),
).where(
    articles.c.site_id == sa.bindparam("site_id"),
    articles.c.uri.in_(sa.bindparam("uris", expanding=True)),
)


def summaries(conn: Connection, site_id: int, uris: Sequence[str]) -> dict[str, Any]:
    """uri → row of (comment_count, feedback, rating columns) for many articles in one
    prebuilt query; unknown uris are absent."""
    if not uris:
        return {}
    rows = conn.execute(_SUMMARY, {"site_id": site_id, "uris": list(uris)}).mappings()
    return {str(r["uri"]): r for r in rows}


def ping(conn: Connection) -> None:
    conn.execute(sa.select(1)).scalar_one()
