"""A reader's own data: read all of it, erase it, and forget old address hashes.

Every function takes an optional ``site_id``: None means everywhere (the reader's own
request), a site id limits it to that site's articles (an operator's purge). Each reads
or changes one table with one statement (a long id list in slices of ``SLICE``), never
one per row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.model import CommentStatus
from voxpop.store.outbox import DIGEST, DROPPED, QUEUED
from voxpop.store.schema import (
    articles,
    comments,
    flags,
    outbox,
    ratings,
    readers,
    sites,
    subscribers,
    subscriptions,
    votes,
)

SLICE = 500  # ids per statement: far below any bind-parameter limit
DELETED = CommentStatus.DELETED.value


def _slices(ids: Sequence[int]) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for i in range(0, len(ordered), SLICE):
        yield ordered[i : i + SLICE]


def _on_site(article_id: Any, site_id: int | None) -> list[Any]:
    """The condition that ``article_id`` is one of the site's articles (none: any)."""
    if site_id is None:
        return []
    return [article_id.in_(sa.select(articles.c.id).where(articles.c.site_id == site_id))]


# -- reading -----------------------------------------------------------------------------


def reader(conn: Connection, reader_id: int) -> Any | None:
    return conn.execute(sa.select(readers).where(readers.c.id == reader_id)).mappings().first()


def comments_of(conn: Connection, reader_id: int) -> list[Any]:
    c = comments.c
    stmt = (
        sa.select(
            c.id,
            sites.c.name.label("site"),
            articles.c.uri,
            c.parent_id,
            c.body,
            c.html,
            c.status,
            c.author_name,
            c.author_email,
            c.author_website,
            c.created_at,
            c.edited_at,
            c.anchor,
        )
        .join(articles, articles.c.id == c.article_id)
        .join(sites, sites.c.id == articles.c.site_id)
        .where(c.reader_id == reader_id)
        .order_by(c.id)
    )
    return list(conn.execute(stmt).mappings())


def votes_of(conn: Connection, reader_id: int) -> list[Any]:
    stmt = (
        sa.select(votes.c.comment_id, votes.c.value, votes.c.created_at)
        .where(votes.c.reader_id == reader_id)
        .order_by(votes.c.comment_id)
    )
    return list(conn.execute(stmt).mappings())


def ratings_of(conn: Connection, reader_id: int) -> list[Any]:
    r = ratings.c
    stmt = (
        sa.select(
            sites.c.name.label("site"),
            articles.c.uri,
            r.stars,
            r.counted,
            r.created_at,
            r.updated_at,
        )
        .join(articles, articles.c.id == r.article_id)
        .join(sites, sites.c.id == articles.c.site_id)
        .where(r.reader_id == reader_id)
        .order_by(r.created_at, r.article_id)
    )
    return list(conn.execute(stmt).mappings())


def _theirs(reader_id: int) -> Any:
    """Subscriptions the reader made, and every one of an address the reader confirmed."""
    return sa.or_(subscriptions.c.reader_id == reader_id, subscribers.c.reader_id == reader_id)


def subscriptions_of(conn: Connection, reader_id: int) -> list[Any]:
    s = subscriptions.c
    stmt = (
        sa.select(
            subscribers.c.email,
            sites.c.name.label("site"),
            articles.c.uri,
            s.scope,
            s.comment_id,
            s.delivery,
            s.confirmed_at,
            s.created_at,
        )
        .join(subscribers, subscribers.c.id == s.subscriber_id)
        .join(articles, articles.c.id == s.article_id)
        .join(sites, sites.c.id == articles.c.site_id)
        .where(_theirs(reader_id))
        .order_by(s.id)
    )
    return list(conn.execute(stmt).mappings())


# -- erasing -----------------------------------------------------------------------------


def comments_to_erase(conn: Connection, reader_id: int, site_id: int | None) -> list[Any]:
    """(id, article_id, status) of the reader's comments that still hold anything: not yet
    deleted, or deleted but still with an address hash (or key) or an anchor."""
    c = comments.c
    stmt = (
        sa.select(c.id, c.article_id, c.status)
        .where(
            c.reader_id == reader_id,
            sa.or_(
                c.status != DELETED,
                c.ip_hash.is_not(None),
                c.address_key.is_not(None),
                c.anchor.is_not(None),
                c.anchor_state.is_not(None),
            ),
            *_on_site(c.article_id, site_id),
        )
        .order_by(c.id)
        .with_for_update()
    )
    return list(conn.execute(stmt).mappings())


def comments_on(conn: Connection, reader_id: int, site_id: int | None) -> list[Any]:
    """(id, article_id, site_id, parent_id, status, created_at, edited_at) of every comment
    of the reader (on one site, or all): what webhook receivers may hold of them."""
    c = comments.c
    stmt = (
        sa.select(
            c.id,
            c.article_id,
            articles.c.site_id,
            c.parent_id,
            c.status,
            c.created_at,
            c.edited_at,
        )
        .join(articles, articles.c.id == c.article_id)
        .where(c.reader_id == reader_id)
        .order_by(c.id)
    )
    if site_id is not None:
        stmt = stmt.where(articles.c.site_id == site_id)
    return list(conn.execute(stmt).mappings())


def erase_comments(conn: Connection, comment_ids: Sequence[int]) -> None:
    """Make comments deleted placeholders: no text, no author, no address, no anchor."""
    for ids in _slices(comment_ids):
        conn.execute(
            sa.update(comments)
            .where(comments.c.id.in_(ids))
            .values(
                status=DELETED,
                body="",
                html="",
                author_name=None,
                author_email=None,
                author_website=None,
                ip_hash=None,
                address_key=None,
                anchor=None,
                anchor_state=None,
            )
        )


def withdraw_votes(conn: Connection, reader_id: int, site_id: int | None) -> list[Any]:
    """Delete the reader's votes; return each as (comment_id, value)."""
    stmt = sa.delete(votes).where(votes.c.reader_id == reader_id)
    if site_id is not None:
        on_site = _on_site(comments.c.article_id, site_id)
        stmt = stmt.where(votes.c.comment_id.in_(sa.select(comments.c.id).where(*on_site)))
    returning = stmt.returning(votes.c.comment_id, votes.c.value)
    return list(conn.execute(returning).mappings())


def uncount_votes(conn: Connection, ups: Sequence[int], downs: Sequence[int]) -> list[Any]:
    """Take one vote off each comment's counters (an up-vote off ``ups``, a down-vote off
    ``downs``), atomically; return (id, article_id, up, down) as they now are."""
    changed: list[Any] = []
    for column, ids in ((comments.c.up, ups), (comments.c.down, downs)):
        for part in _slices(ids):
            stmt = (
                sa.update(comments)
                .where(comments.c.id.in_(part))
                .values({column: column - 1})
                .returning(comments.c.id, comments.c.article_id, comments.c.up, comments.c.down)
            )
            changed.extend(conn.execute(stmt).mappings())
    return changed


_SET_SCORE = (
    sa.update(comments)
    .where(comments.c.id == sa.bindparam("b_id"))
    .values(score=sa.bindparam("b_score", type_=sa.Float))
)


def set_scores(conn: Connection, scores: dict[int, float]) -> None:
    if scores:
        conn.execute(_SET_SCORE, [{"b_id": i, "b_score": s} for i, s in sorted(scores.items())])


def withdraw_ratings(conn: Connection, reader_id: int, site_id: int | None) -> list[Any]:
    """Delete the reader's ratings; return each as (article_id, stars, counted)."""
    stmt = (
        sa.delete(ratings)
        .where(ratings.c.reader_id == reader_id, *_on_site(ratings.c.article_id, site_id))
        .returning(ratings.c.article_id, ratings.c.stars, ratings.c.counted)
    )
    return list(conn.execute(stmt).mappings())


def owned_subscribers(conn: Connection, reader_id: int) -> list[int]:
    """The addresses the reader confirmed (they vouched for being their owner)."""
    stmt = sa.select(subscribers.c.id).where(subscribers.c.reader_id == reader_id)
    return [int(i) for i in conn.execute(stmt).scalars()]


def subscriptions_to_cancel(conn: Connection, reader_id: int, site_id: int | None) -> list[int]:
    s = subscriptions.c
    stmt = (
        sa.select(s.id)
        .join(subscribers, subscribers.c.id == s.subscriber_id)
        .where(_theirs(reader_id), *_on_site(s.article_id, site_id))
    )
    return [int(i) for i in conn.execute(stmt).scalars()]


def cancel_subscriptions(conn: Connection, subscription_ids: Sequence[int]) -> int:
    """Delete subscriptions, and mark the mail still waiting for them ``dropped``: their
    confirmation mails, and notifications for an address left with no subscription to
    that article. Rows stay (as the worker's own drops do): the per-address limit of
    confirmation mails keeps counting them."""
    gone = 0
    s = subscriptions.c
    o = outbox.c
    for ids in _slices(subscription_ids):
        gone += int(conn.execute(sa.delete(subscriptions).where(s.id.in_(ids))).rowcount)
        still_wanted = (
            sa.select(s.id)
            .where(s.subscriber_id == o.subscriber_id, s.article_id == o.article_id)
            .exists()
        )
        conn.execute(
            sa.update(outbox)
            .where(
                o.subscription_id.in_(ids),
                o.status.in_([QUEUED, DIGEST]),
                sa.or_(o.kind == "confirm", ~still_wanted),
            )
            .values(status=DROPPED, last_error="the subscription was cancelled (privacy)")
        )
    return gone


def delete_subscribers(conn: Connection, subscriber_ids: Sequence[int]) -> None:
    """Forget addresses with all their mail (the address is the personal datum; the
    outbox rows name it). Their subscriptions must be gone already."""
    for ids in _slices(subscriber_ids):
        conn.execute(sa.delete(outbox).where(outbox.c.subscriber_id.in_(ids)))
        conn.execute(sa.delete(subscribers).where(subscribers.c.id.in_(ids)))


def clear_verified(conn: Connection, reader_id: int) -> None:
    conn.execute(sa.update(readers).where(readers.c.id == reader_id).values(verified_at=None))


# -- retention ---------------------------------------------------------------------------


def forget_addresses(conn: Connection, before: datetime, limit: int = 1000) -> int:
    """Drop the address hashes (and keys) of comments, ratings and flags made before
    ``before``, at most ``limit`` rows of each table; return how many rows changed (the
    caller repeats until fewer than ``limit`` went). The rows are found through partial
    indexes of the rows that still hold a hash: the work is what there is to forget."""
    c = comments.c
    held = sa.or_(c.ip_hash.is_not(None), c.address_key.is_not(None))
    changed = conn.execute(
        sa.update(comments)
        .where(c.id.in_(sa.select(c.id).where(held, c.created_at < before).limit(limit)))
        .values(ip_hash=None, address_key=None)
    ).rowcount
    r = ratings.c
    changed += conn.execute(
        sa.update(ratings)
        .where(
            sa.tuple_(r.article_id, r.reader_id).in_(
                sa.select(r.article_id, r.reader_id)
                .where(r.address_hash.is_not(None), r.created_at < before)
                .limit(limit)
            )
        )
        .values(address_hash=None)
    ).rowcount
    f = flags.c
    changed += conn.execute(
        sa.update(flags)
        .where(
            f.id.in_(
                sa.select(f.id)
                .where(f.address_key.is_not(None), f.created_at < before)
                .limit(limit)
            )
        )
        .values(address_key=None)
    ).rowcount
    return int(changed)


def flags_of(conn: Connection, reader_id: int) -> list[Any]:
    """The reader's flags on comments (what they reported, why)."""
    stmt = (
        sa.select(flags.c.comment_id, flags.c.reason, flags.c.note, flags.c.created_at)
        .where(flags.c.flagger == f"r{reader_id}")
        .order_by(flags.c.id)
    )
    return list(conn.execute(stmt).mappings())


def erase_flags(conn: Connection, reader_id: int, site_id: int | None) -> int:
    """Delete the reader's flags (their notes are theirs); the flagged comments' counts of
    open flags follow. Returns how many went."""
    f = flags.c
    mine = [f.flagger == f"r{reader_id}", *_on_site_comment(f.comment_id, site_id)]
    touched = [int(r.comment_id) for r in conn.execute(sa.select(f.comment_id).where(*mine))]
    gone = int(conn.execute(sa.delete(flags).where(*mine)).rowcount)
    for ids in _slices(touched):
        still_open = (
            sa.select(sa.func.count())
            .where(f.comment_id == comments.c.id, f.resolved_at.is_(None))
            .scalar_subquery()
        )
        conn.execute(sa.update(comments).where(comments.c.id.in_(ids)).values(flags=still_open))
    return gone


def _on_site_comment(comment_id: Any, site_id: int | None) -> list[Any]:
    if site_id is None:
        return []
    on_site = sa.select(comments.c.id).where(*_on_site(comments.c.article_id, site_id))
    return [comment_id.in_(on_site)]
