"""Subscribers (confirmed e-mail addresses) and their subscriptions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.schema import articles, readers, sites, subscribers, subscriptions
from voxpop.store.upsert import insert_ignore


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    email: str
    language: str
    reader_id: int | None
    confirmed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    subscriber_id: int
    article_id: int
    scope: str
    comment_id: int
    delivery: str
    reader_id: int | None
    confirmed_at: datetime | None
    # Of the article, for listing them.
    uri: str = ""
    title: str = ""
    site: str = ""


_SUBSCRIBER_COLS = (
    subscribers.c.id,
    subscribers.c.email,
    subscribers.c.language,
    subscribers.c.reader_id,
    subscribers.c.confirmed_at,
)
_SUBSCRIPTION_COLS = (
    subscriptions.c.id,
    subscriptions.c.subscriber_id,
    subscriptions.c.article_id,
    subscriptions.c.scope,
    subscriptions.c.comment_id,
    subscriptions.c.delivery,
    subscriptions.c.reader_id,
    subscriptions.c.confirmed_at,
)


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(row.id, row.email, row.language, row.reader_id, row.confirmed_at)


def _subscription(row: Any) -> Subscription:
    extra = row._mapping
    return Subscription(
        id=row.id,
        subscriber_id=row.subscriber_id,
        article_id=row.article_id,
        scope=row.scope,
        comment_id=row.comment_id,
        delivery=row.delivery,
        reader_id=row.reader_id,
        confirmed_at=row.confirmed_at,
        uri=extra.get("uri", ""),
        title=extra.get("title", ""),
        site=extra.get("site", ""),
    )


def ensure_subscriber(conn: Connection, email: str, language: str, now: datetime) -> Subscriber:
    insert_ignore(conn, subscribers, email=email, language=language, created_at=now)
    found = subscriber_by_email(conn, email)
    assert found is not None
    return found


def subscriber_by_email(conn: Connection, email: str) -> Subscriber | None:
    row = conn.execute(sa.select(*_SUBSCRIBER_COLS).where(subscribers.c.email == email)).first()
    return _subscriber(row) if row else None


def subscriber(conn: Connection, subscriber_id: int) -> Subscriber | None:
    row = conn.execute(
        sa.select(*_SUBSCRIBER_COLS).where(subscribers.c.id == subscriber_id)
    ).first()
    return _subscriber(row) if row else None


def subscribers_by_ids(conn: Connection, ids: Iterable[int]) -> dict[int, Subscriber]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(sa.select(*_SUBSCRIBER_COLS).where(subscribers.c.id.in_(wanted)))
    return {int(r.id): _subscriber(r) for r in rows}


def ensure_subscription(
    conn: Connection,
    *,
    subscriber_id: int,
    article_id: int,
    scope: str,
    comment_id: int,
    delivery: str,
    reader_id: int | None,
    now: datetime,
) -> Subscription:
    """The subscription, created unconfirmed when it did not exist (an existing one keeps
    its state: asking twice neither confirms nor cancels anything)."""
    key = {
        "subscriber_id": subscriber_id,
        "article_id": article_id,
        "scope": scope,
        "comment_id": comment_id,
    }
    insert_ignore(
        conn, subscriptions, **key, delivery=delivery, reader_id=reader_id, created_at=now
    )
    row = conn.execute(
        sa.select(*_SUBSCRIPTION_COLS).where(
            *(subscriptions.c[name] == value for name, value in key.items())
        )
    ).one()
    found = _subscription(row)
    if found.confirmed_at is None and found.delivery != delivery:
        # Asked again before confirming: the latest wish is the one confirmed.
        conn.execute(
            sa.update(subscriptions).where(subscriptions.c.id == found.id).values(delivery=delivery)
        )
        return replace(found, delivery=delivery)
    return found


def subscription(conn: Connection, subscription_id: int) -> Subscription | None:
    row = conn.execute(_listing().where(subscriptions.c.id == subscription_id)).first()
    return _subscription(row) if row else None


def _listing() -> sa.Select[Any]:
    return (
        sa.select(
            *_SUBSCRIPTION_COLS,
            articles.c.uri,
            articles.c.title,
            sites.c.name.label("site"),
        )
        .join(articles, articles.c.id == subscriptions.c.article_id)
        .join(sites, sites.c.id == articles.c.site_id)
    )


def of_subscriber(conn: Connection, subscriber_id: int) -> list[Subscription]:
    stmt = (
        _listing()
        .where(subscriptions.c.subscriber_id == subscriber_id)
        .order_by(subscriptions.c.created_at.desc(), subscriptions.c.id.desc())
    )
    return [_subscription(r) for r in conn.execute(stmt)]


def of_subscribers(
    conn: Connection, ids: Iterable[int], article_ids: Iterable[int] | None = None
) -> list[Subscription]:
    """The subscriptions of these addresses (on these articles), without article
    details: one query."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    stmt = sa.select(*_SUBSCRIPTION_COLS).where(subscriptions.c.subscriber_id.in_(wanted))
    if article_ids is not None:
        stmt = stmt.where(subscriptions.c.article_id.in_(sorted(set(article_ids))))
    return [_subscription(r) for r in conn.execute(stmt)]


def confirm(
    conn: Connection,
    subscription: Subscription,
    subscriber: Subscriber,
    reader_id: int | None,
    now: datetime,
) -> None:
    """Confirm a subscription and its address. ``reader_id`` asked for the mail whose link
    was followed: the subscription is theirs (``replies`` watches their comments), and the
    address owner has vouched for them (trusted to subscribe it again, and as a rater)."""
    if subscription.confirmed_at is None:
        values: dict[str, Any] = {"confirmed_at": now}
        if reader_id is not None:
            values["reader_id"] = reader_id
        conn.execute(
            sa.update(subscriptions).where(subscriptions.c.id == subscription.id).values(**values)
        )
    owner: dict[str, Any] = {}
    if subscriber.confirmed_at is None:
        owner["confirmed_at"] = now
    if reader_id is not None and subscriber.reader_id is None:
        owner["reader_id"] = reader_id
    if owner:
        conn.execute(
            sa.update(subscribers).where(subscribers.c.id == subscriber.id).values(**owner)
        )
    if reader_id is not None:
        conn.execute(
            sa.update(readers)
            .where(readers.c.id == reader_id, readers.c.verified_at.is_(None))
            .values(verified_at=now)
        )


def cancel(
    conn: Connection,
    subscriber_id: int,
    *,
    subscription_id: int | None = None,
    article_id: int | None = None,
    delivery: str | None = None,
) -> int:
    """Delete the subscriber's subscriptions (one, those on one article, those with one
    delivery, or all); return how many there were."""
    stmt = sa.delete(subscriptions).where(subscriptions.c.subscriber_id == subscriber_id)
    if subscription_id is not None:
        stmt = stmt.where(subscriptions.c.id == subscription_id)
    if article_id is not None:
        stmt = stmt.where(subscriptions.c.article_id == article_id)
    if delivery is not None:
        stmt = stmt.where(subscriptions.c.delivery == delivery)
    return int(conn.execute(stmt).rowcount)


def set_delivery(conn: Connection, subscriber_id: int, subscription_id: int, delivery: str) -> int:
    stmt = (
        sa.update(subscriptions)
        .where(
            subscriptions.c.subscriber_id == subscriber_id, subscriptions.c.id == subscription_id
        )
        .values(delivery=delivery)
    )
    return int(conn.execute(stmt).rowcount)


_ANY_CONFIRMED = (
    sa.select(subscriptions.c.id)
    .where(
        subscriptions.c.article_id == sa.bindparam("article_id"),
        subscriptions.c.confirmed_at.is_not(None),
    )
    .limit(1)
)


def article_has_subscribers(conn: Connection, article_id: int) -> bool:
    """The cheap check before deciding who hears of a new comment."""
    return conn.execute(_ANY_CONFIRMED, {"article_id": article_id}).first() is not None
