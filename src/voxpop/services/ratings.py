"""Article ratings: one per reader, changeable, counted in the rating's own transaction.

Ballot stuffing: a client that mints fresh reader identities from one address gets, per
article and day, ``allowance`` counted ratings; the ones beyond are stored but not
counted. Their reader is shown the tally as if theirs counted (a shadow view, as
moderation systems do for shadow-held comments), so neither the stuffer's own answers
nor a reader behind a busy NAT show a difference; only a read without their token
shows the true tally. Moderators see which ratings were not counted. Readers with a
confirmed e-mail address are exempt when ``rating_trust_verified`` is on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from voxpop import errors
from voxpop.model import Rating, RatingTally, Site
from voxpop.services import access, events, inputs, webhooks
from voxpop.services.context import Context
from voxpop.services.identity import Actor
from voxpop.services.readers import ensure_reader
from voxpop.store import articles as article_store
from voxpop.store import audit as audit_store
from voxpop.store import ratings as rating_store

TOP_LIMIT = 100
TOP_TTL = 30.0  # seconds a site's ranking is reused


@dataclass(frozen=True, slots=True)
class Rated:
    rating: Rating
    reader_id: int
    minted: bool


@dataclass(frozen=True, slots=True)
class RankedArticle:
    uri: str
    title: str
    tally: RatingTally
    score: float


@dataclass(frozen=True, slots=True)
class StoredRating:
    """A rating as moderators see it."""

    reader_id: int
    uri: str
    stars: int
    counted: bool
    created_at: Any
    updated_at: Any


def stars_value(raw: object) -> int:
    """Whole stars 1–5; anything else (0, 6, 3.5, "4", true) is refused."""
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 5:
        raise errors.ValidationFailed("stars must be a whole number from 1 to 5", field="stars")
    return raw


def _enabled(site: Site) -> None:
    if not site.rating.enabled:
        raise errors.RatingsDisabled(f"Site {site.name!r} does not take ratings")


def get(ctx: Context, site: Site, actor: Actor, uri: str) -> Rating:
    """The article's tally and the reader's own stars; an unknown article has none yet."""
    path = inputs.uri(uri)
    with ctx.db.read() as conn:
        article = article_store.get(conn, site.id, path)
        if article is None:
            return Rating(RatingTally.EMPTY, None)
        tally = rating_store.tally(conn, article.id)
        mine = None
        if actor.reader_id is not None:
            stored = rating_store.mine(conn, article.id, actor.reader_id)
            if stored is not None:
                mine = stored.stars
                if not stored.counted:
                    tally = tally.including(stored.stars)
    return Rating(tally, mine)


def rate(
    ctx: Context, site: Site, actor: Actor, uri: str, stars: int, title: str | None = None
) -> Rated:
    """Set the reader's rating of an article (creating the article when ``title`` is given
    for one seen for the first time); re-rating replaces."""
    _enabled(site)
    path = inputs.uri(uri)
    stars = stars_value(stars)
    clean_title = inputs.title(title)
    ctx.limiter.hit("rate:" + actor.key, ctx.settings.rating_rate)
    if actor.reader_id is not None:
        ctx.limiter.hit("rate:a" + actor.address, ctx.settings.rating_rate)
    policy = site.rating
    now = ctx.clock()

    def txn(conn: Connection) -> Rated:
        article = (
            article_store.get_or_create(conn, site.id, path, clean_title)
            if clean_title
            else article_store.get(conn, site.id, path)
        )
        if article is None:
            raise errors.UnknownArticle(
                f"No article {path}; send its title with the first rating", field="uri"
            )
        reader_id, minted = ensure_reader(ctx, conn, actor)
        verified = not minted and rating_store.is_verified(conn, reader_id)
        if not policy.guests and not verified:
            raise errors.VerificationRequired(
                "This site takes ratings from readers who confirmed an e-mail address"
            )
        counted = True
        event: tuple[str, int | None] | None = None  # what to announce: (event, old stars)
        for _ in range(2):
            before = rating_store.mine_for_update(conn, article.id, reader_id)
            if before is not None:
                counted = before.counted
                if before.stars != stars:
                    if not policy.changes:
                        raise errors.RatingFinal("Your rating is final on this site")
                    rating_store.update(conn, article.id, reader_id, stars, now)
                    if before.counted:
                        rating_store.add(conn, article.id, before.stars, stars)
                    event = ("rating.updated", before.stars)
                break
            counted = (verified and ctx.settings.rating_trust_verified) or (
                rating_store.counted_from(conn, article.id, actor.address) < policy.allowance
            )
            if rating_store.insert(conn, article.id, reader_id, stars, counted, actor.address, now):
                if counted:
                    rating_store.add(conn, article.id, None, stars)
                event = ("rating.created", None)
                break
            # A request of the same reader inserted first: go round again and update it.
        tally = rating_store.tally(conn, article.id)
        if event is not None:
            webhooks.rating_event(
                ctx, conn, site, event[0], article_id=article.id, reader_id=reader_id,
                stars=stars, previous=event[1], counted=counted, tally=tally, actor="reader",
                now=now,
            )  # fmt: skip
        if event is not None and counted:
            events.rating(ctx, conn, article.id, tally)
        shown = tally if counted else tally.including(stars)
        return Rated(Rating(shown, stars), reader_id, minted)

    rated: Rated = ctx.db.transact(txn)
    webhooks.wake(ctx, site)
    ctx.wake_events()
    ctx.readers.put(rated.reader_id, True)
    return rated


def remove(ctx: Context, site: Site, actor: Actor, uri: str) -> Rating:
    """Withdraw the reader's rating of an article (nothing to withdraw is not an error)."""
    _enabled(site)
    path = inputs.uri(uri)
    if actor.reader_id is None:
        raise errors.Unauthorized("Send your reader token to withdraw your rating")
    reader_id = actor.reader_id
    ctx.limiter.hit("rate:" + actor.key, ctx.settings.rating_rate)
    now = ctx.clock()

    def txn(conn: Connection) -> Rating:
        article = article_store.get(conn, site.id, path)
        if article is None:
            raise errors.UnknownArticle(f"No article {path}", field="uri")
        before = rating_store.mine_for_update(conn, article.id, reader_id)
        if before is not None:
            if not site.rating.changes:
                raise errors.RatingFinal("Your rating is final on this site")
            rating_store.delete(conn, article.id, reader_id)
            if before.counted:
                rating_store.add(conn, article.id, before.stars, None)
            _removed(ctx, conn, site, article.id, reader_id, before, "reader", now)
        return Rating(rating_store.tally(conn, article.id), None)

    result: Rating = ctx.db.transact(txn)
    webhooks.wake(ctx, site)
    ctx.wake_events()
    return result


def _removed(
    ctx: Context, conn: Connection, site: Site, article_id: int, reader_id: int, before: Any,
    actor: str, now: Any,
) -> None:  # fmt: skip
    """Announce a rating that went (``before``: it as it was)."""
    tally = rating_store.tally(conn, article_id)
    webhooks.rating_event(
        ctx, conn, site, "rating.deleted", article_id=article_id, reader_id=reader_id,
        stars=before.stars, previous=None, counted=before.counted,
        tally=tally, actor=actor, now=now,
    )  # fmt: skip
    if before.counted:
        events.rating(ctx, conn, article_id, tally)


def top(ctx: Context, site: Site, limit: int) -> list[RankedArticle]:
    """A site's best-rated articles by a damped (Bayesian) average: each article's mean is
    pulled towards the site's mean by ``rating_prior`` votes, so one 5-star vote cannot win.

    The damped score moves with every rating anywhere on the site, so no index can keep it
    sorted; the ranking is computed over the site's rated articles and kept for
    ``TOP_TTL`` seconds."""
    key = (site.id, limit)
    now = time.monotonic()
    cached = ctx.ranked.get(key)
    if cached is not None and now - cached[0] < TOP_TTL:
        return list(cached[1])
    ranked = _rank(ctx, site, limit)
    ctx.ranked.put(key, (now, ranked))
    return ranked


def _rank(ctx: Context, site: Site, limit: int) -> list[RankedArticle]:
    with ctx.db.read() as conn:
        total, count = rating_store.site_mean(conn, site.id)
        if not count:
            return []
        rows = rating_store.top(
            conn, site.id, total / count, float(ctx.settings.rating_prior), min(limit, TOP_LIMIT)
        )
    return [
        RankedArticle(r["uri"], r["title"], rating_store.tally_of(r), float(r["score"]))
        for r in rows
    ]


# -- moderators ------------------------------------------------------------------------


def _stored(row: Any, uri: str) -> StoredRating:
    return StoredRating(
        int(row["reader_id"]),
        uri,
        int(row["stars"]),
        bool(row["counted"]),
        row["created_at"],
        row["updated_at"],
    )


def require_reader(reader_id: int | None) -> int:
    if reader_id is None:
        raise errors.ValidationFailed("Ask for an article (uri=) or a reader (reader=)")
    return reader_id


def of_article(
    ctx: Context, actor: Actor, site: Site, uri: str, limit: int, offset: int
) -> tuple[RatingTally, list[StoredRating]]:
    access.require(actor, "rating.manage", site.name)
    path = inputs.uri(uri)
    with ctx.db.read() as conn:
        article = article_store.get(conn, site.id, path)
        if article is None:
            raise errors.UnknownArticle(f"No article {path}", field="uri")
        rows = rating_store.of_article(conn, article.id, limit, offset)
        tally = rating_store.tally(conn, article.id)
    return tally, [_stored(r, path) for r in rows]


def of_reader(ctx: Context, actor: Actor, site: Site, reader_id: int) -> list[StoredRating]:
    access.require(actor, "rating.manage", site.name)
    with ctx.db.read() as conn:
        rows = rating_store.of_reader(conn, site.id, reader_id)
    return [_stored(r, r["uri"]) for r in rows]


def moderator_remove(
    ctx: Context, actor: Actor, site: Site, reader_id: int, uri: str | None
) -> int:
    """Remove a reader's rating of one article, or (``uri`` None) all their ratings on the
    site; the aggregates follow and an audit entry records it. Returns how many went."""
    access.require(actor, "rating.manage", site.name)
    path = inputs.uri(uri) if uri is not None else None
    now = ctx.clock()

    def txn(conn: Connection) -> int:
        if path is not None:
            article = article_store.get(conn, site.id, path)
            if article is None:
                raise errors.UnknownArticle(f"No article {path}", field="uri")
            targets = [(article.id, path)]
        else:
            targets = [
                (int(r["article_id"]), str(r["uri"]))
                for r in rating_store.of_reader(conn, site.id, reader_id)
            ]
        removed = []
        for article_id, target_uri in targets:
            before = rating_store.mine_for_update(conn, article_id, reader_id)
            if before is None:
                continue
            rating_store.delete(conn, article_id, reader_id)
            if before.counted:
                rating_store.add(conn, article_id, before.stars, None)
            _removed(ctx, conn, site, article_id, reader_id, before, "moderator", now)
            removed.append({"uri": target_uri, "stars": before.stars, "counted": before.counted})
        if path is not None and not removed:
            raise errors.NotFound(f"Reader {reader_id} has not rated {path}")
        audit_store.record(
            conn,
            now,
            actor.audit_name,
            "rating.remove",
            f"reader:{reader_id}",
            site.id,
            {"ratings": removed},
        )
        return len(removed)

    count: int = ctx.db.transact(txn)
    webhooks.wake(ctx, site)
    ctx.wake_events()
    return count
