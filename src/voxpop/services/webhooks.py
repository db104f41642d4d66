"""Webhooks: what happened, announced to each site's own URL, signed with its secret.

Deciding is part of the change: every write path calls one function here inside its own
transaction, which writes a ``webhook_deliveries`` row when the site has a webhook. A
change that is refused or rolled back therefore announces nothing, and a committed one
cannot lose its announcement. The outbox workers send the rows
(``services.webhook_delivery``); operators read and retry them here.

Events (``data`` of each, see docs/api.md):

    comment.created     a new comment, whatever status the policy gave it
    feedback.created    a new inline feedback (a comment with an anchor)
    comment.moderated   a status change: by a moderator, by readers' flags, or by the
                        policy re-judging an author's edit (``actor.kind``)
    comment.edited      new text, by its author or a moderator
    comment.deleted     deleted by its author (a moderator's delete is comment.moderated),
                        or erased with its author's data (actor ``privacy``)
    rating.created      a reader's first rating of an article (with the article's tally)
    rating.updated      a reader changed their stars
    rating.deleted      a rating withdrawn by its reader, removed by a moderator, or
                        erased with its reader's data (actor ``privacy``)

Each event has a key, unique per site URL, that names the change itself: the same
decision taken twice queues one call, and the payload's ``id`` is derived from it, so a
receiver recognises a call made again (after a timeout, a retry) as the same event.
Payloads carry what the public API shows, never e-mail addresses, address hashes or
reader ids: a rater is an opaque id, stable per site.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from voxpop import errors
from voxpop.model import MAX_ID, Article, Comment, CommentStatus, RatingTally, Site
from voxpop.services import access
from voxpop.services.context import Context
from voxpop.services.identity import Actor
from voxpop.store import articles as article_store
from voxpop.store import audit as audit_store
from voxpop.store import comments as comment_store
from voxpop.store import moderation as moderation_store
from voxpop.store import ratings as rating_store
from voxpop.store import webhooks as store

EVENTS = (
    "comment.created",
    "feedback.created",
    "comment.moderated",
    "comment.edited",
    "comment.deleted",
    "rating.created",
    "rating.updated",
    "rating.deleted",
)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stamp(value: datetime) -> str:
    """A moment as a key part: microseconds since the epoch."""
    return str(int(value.timestamp() * 1_000_000))


def event_id(site: Site, key: str) -> str:
    """The id receivers see: the same for every call of one event, whatever its delivery."""
    return "evt_" + hashlib.sha256(f"{site.name}\n{key}".encode()).hexdigest()[:32]


def signature(secret: str, body: bytes) -> str:
    """The ``X-Voxpop-Signature`` header of a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def enqueue(
    ctx: Context, conn: Connection, site: Site, event: str, data: dict[str, Any], key: str
) -> bool:
    """Inside the caller's transaction: queue ``event`` for the site's webhook, if it has
    one. False when it has none, or the event (``key``) was queued before."""
    if not site.webhook_url:
        return False
    now = ctx.clock()
    body = {
        "id": event_id(site, key),
        "event": event,
        "site": site.name,
        "created_at": iso(now),
        "data": data,
    }
    return store.enqueue(
        conn,
        site_id=site.id,
        url=site.webhook_url,
        event=event,
        event_key=key[:100],
        payload=orjson.dumps(body).decode(),
        now=now,
    )


def hooked(ctx: Context) -> bool:
    return any(site.webhook_url for site in ctx.sites.values())


def wake(ctx: Context, site: Site | None = None) -> None:
    """After a commit: have the worker send what it queued now, not at its next poll."""
    if site.webhook_url if site is not None else hooked(ctx):
        ctx.wake_mailer()


def site_of(ctx: Context, conn: Connection, comment_id: int) -> Site | None:
    """The comment's site when it has a webhook (None otherwise: nothing to announce)."""
    if not hooked(ctx):
        return None
    site = ctx.site_by_id(moderation_store.site_of_comment(conn, comment_id))
    return site if site is not None and site.webhook_url else None


# -- comments ------------------------------------------------------------------------------


_NO_ARTICLE: dict[str, Any] = {"uri": None, "title": None}
DELETED = CommentStatus.DELETED.value


def _article(conn: Connection, article_id: int) -> dict[str, Any]:
    article = article_store.by_id(conn, article_id)
    if article is None:
        return dict(_NO_ARTICLE)
    return {"uri": article.uri, "title": article.title or None}


def comment_json(comment: Comment, uri: str | None) -> dict[str, Any]:
    """A comment as the public API shows it (a deleted one as its placeholder)."""
    gone = comment.is_deleted
    return {
        "id": comment.id,
        "parent_id": comment.parent_id,
        "uri": uri,
        "author": {
            "name": None if gone else comment.author.name,
            "website": None if gone else comment.author.website,
        },
        "html": "" if gone else comment.html,
        "status": comment.status.value,
        "created_at": iso(comment.created_at),
        "edited_at": iso(comment.edited_at),
        "anchor": comment.anchor,
    }


def _comment_data(conn: Connection, comment: Comment, **extra: Any) -> dict[str, Any]:
    article = _article(conn, comment.article_id)
    return {"comment": comment_json(comment, article["uri"]), "article": article, **extra}


def comment_created(ctx: Context, conn: Connection, site: Site, comment: Comment) -> None:
    if not site.webhook_url:
        return
    event = "feedback.created" if comment.anchor else "comment.created"
    enqueue(ctx, conn, site, event, _comment_data(conn, comment), f"{event}:{comment.id}")


def comment_moderated(
    ctx: Context,
    conn: Connection,
    site: Site | None,
    comment_id: int,
    before: CommentStatus,
    after: CommentStatus,
    actor: str,
    now: datetime,
) -> None:
    """A status change; ``actor``: ``moderator``, ``flags`` or ``policy``. The key names
    the change and its moment: the same change replayed collapses, a comment approved,
    rejected and approved again is announced three times."""
    if site is None or not site.webhook_url or before is after:
        return
    comment = comment_store.get(conn, comment_id)
    if comment is None:
        return
    data = _comment_data(
        conn, comment, **{"from": before.value, "to": after.value, "actor": {"kind": actor}}
    )
    key = f"comment.moderated:{comment_id}:{before.value}>{after.value}:{stamp(now)}"
    enqueue(ctx, conn, site, "comment.moderated", data, key)


def comment_edited(
    ctx: Context,
    conn: Connection,
    comment: Comment | None,
    before: CommentStatus,
    staff: bool,
    now: datetime,
) -> None:
    """``comment.edited`` (``comment`` as it is now), and ``comment.moderated`` by the
    policy when re-judging the new text changed its status."""
    site = site_of(ctx, conn, comment.id) if comment is not None else None
    if site is None or comment is None:
        return
    data = _comment_data(conn, comment, actor={"kind": "moderator" if staff else "author"})
    key = f"comment.edited:{comment.id}:{stamp(now)}"
    enqueue(ctx, conn, site, "comment.edited", data, key)
    comment_moderated(ctx, conn, site, comment.id, before, comment.status, "policy", now)


def comment_deleted(
    ctx: Context, conn: Connection, comment: Comment, staff: bool, now: datetime
) -> None:
    """``comment.deleted`` by its author (``comment`` as it was before); a moderator's
    delete is ``comment.moderated``. Deleting is final: one key per comment."""
    site = site_of(ctx, conn, comment.id)
    if site is None:
        return
    if staff:
        after = CommentStatus.DELETED
        comment_moderated(ctx, conn, site, comment.id, comment.status, after, "moderator", now)
        return
    gone = comment_store.get(conn, comment.id)
    if gone is None:
        return
    data = _comment_data(conn, gone, **{"from": comment.status.value, "actor": {"kind": "author"}})
    enqueue(ctx, conn, site, "comment.deleted", data, f"comment.deleted:{comment.id}")


# -- ratings -------------------------------------------------------------------------------


def rater(ctx: Context, site: Site, reader_id: int) -> str:
    """An opaque id of a reader, stable on one site, meaningless anywhere else."""
    mac = hmac.new(
        ctx.settings.secret_key.encode(),
        f"webhook-rater:{site.name}:{reader_id}".encode(),
        hashlib.sha256,
    )
    return "rtr_" + mac.hexdigest()[:24]


def rating_event(
    ctx: Context,
    conn: Connection,
    site: Site,
    event: str,
    *,
    article_id: int,
    reader_id: int,
    stars: int,
    previous: int | None,
    counted: bool,
    tally: RatingTally,
    actor: str,
    now: datetime,
) -> None:
    """``rating.created``, ``rating.updated`` or ``rating.deleted`` (``stars``: the
    removed rating's), with the article's tally after the change."""
    if not site.webhook_url:
        return
    data = {
        "article": _article(conn, article_id),
        "rating": {
            "rater": rater(ctx, site, reader_id),
            "stars": stars,
            "previous_stars": previous,
            "counted": counted,
        },
        "aggregate": {
            "average": tally.average,
            "count": tally.count,
            "histogram": list(tally.histogram),
        },
        "actor": {"kind": actor},
    }
    key = f"{event}:{article_id}:{reader_id}:{stamp(now)}"
    enqueue(ctx, conn, site, event, data, key)


# -- privacy -------------------------------------------------------------------------------


def erased(
    ctx: Context,
    conn: Connection,
    reader_id: int,
    site_id: int | None,
    comments: Sequence[Any],
    before: dict[int, str],
    withdrawn: Sequence[int],
    now: datetime,
) -> int:
    """Inside an erasure's transaction (``services.privacy``), after it: delete the calls,
    queued or made, that carry the reader's comments or ratings (on one site, or all), and
    tell each site's receiver what to drop, as actor ``privacy``: ``comment.deleted`` for
    each erased comment it may hold, ``rating.deleted`` for each withdrawn rating, with no
    text, no author, no stars. ``comments``: every comment of the reader there, as it now
    is (``store.privacy.comments_on``); ``before``: the status of those erased now;
    ``withdrawn``: the articles whose rating of the reader was withdrawn now. Returns how
    many calls were deleted."""
    comment_keys = store.erase_comment_calls(conn, site_id, [int(c["id"]) for c in comments])
    rating_keys = store.erase_rating_calls(conn, site_id, reader_id)
    # A receiver may hold a comment that was erased now (unless it was deleted before, and
    # so announced), and any comment or rating whose calls were just deleted: a call still
    # queued may have been the one that announced its deletion.
    called = {int(key.split(":")[1]) for key in comment_keys}
    told = [
        c
        for c in comments
        if int(c["id"]) in called or before.get(int(c["id"]), DELETED) != DELETED
    ]
    rated = sorted(set(withdrawn) | {int(key.split(":")[1]) for key in rating_keys})
    if hooked(ctx) and (told or rated):
        wanted = {int(c["article_id"]) for c in told} | set(rated)
        articles = article_store.by_ids(conn, sorted(wanted))
        for c in told:
            _comment_erased(ctx, conn, c, articles.get(int(c["article_id"])), before)
        for article_id in rated:
            _rating_erased(ctx, conn, articles.get(article_id), reader_id, now)
    return len(comment_keys) + len(rating_keys)


def _described(article: Article | None) -> dict[str, Any]:
    return {"uri": article.uri, "title": article.title or None} if article else dict(_NO_ARTICLE)


def _comment_erased(
    ctx: Context, conn: Connection, c: Any, article: Article | None, before: dict[int, str]
) -> None:
    """``comment.deleted`` by ``privacy``: the placeholder, nothing of its author."""
    site = ctx.site_by_id(int(c["site_id"]))
    if site is None or not site.webhook_url:
        return
    described = _described(article)
    data = {
        "comment": {
            "id": int(c["id"]),
            "parent_id": c["parent_id"],
            "uri": described["uri"],
            "author": {"name": None, "website": None},
            "html": "",
            "status": DELETED,
            "created_at": iso(c["created_at"]),
            "edited_at": iso(c["edited_at"]),
            "anchor": None,
        },
        "article": described,
        "from": before.get(int(c["id"]), str(c["status"])),
        "actor": {"kind": "privacy"},
    }
    enqueue(ctx, conn, site, "comment.deleted", data, f"privacy:comment.deleted:{c['id']}")


def _rating_erased(
    ctx: Context, conn: Connection, article: Article | None, reader_id: int, now: datetime
) -> None:
    """``rating.deleted`` by ``privacy``: whose (the opaque rater), not what."""
    site = ctx.site_by_id(article.site_id) if article is not None else None
    if article is None or site is None or not site.webhook_url:
        return
    tally = rating_store.tally(conn, article.id)
    data = {
        "article": _described(article),
        "rating": {
            "rater": rater(ctx, site, reader_id),
            "stars": None,
            "previous_stars": None,
            "counted": None,
        },
        "aggregate": {
            "average": tally.average,
            "count": tally.count,
            "histogram": list(tally.histogram),
        },
        "actor": {"kind": "privacy"},
    }
    key = f"privacy:rating.deleted:{article.id}:{reader_id}:{stamp(now)}"
    enqueue(ctx, conn, site, "rating.deleted", data, key)


# -- operators -------------------------------------------------------------------------------


def _scope(actor: Actor, site: Site | None) -> int | None:
    access.require(actor, "webhook.manage", site.name if site else None)
    return site.id if site else None


def deliveries(
    ctx: Context,
    actor: Actor,
    site: Site | None,
    status: str | None,
    before: int | None,
    limit: int,
) -> tuple[dict[str, int], list[Any]]:
    """Counts per status and a page of calls, newest first: one site's, or (``site`` None,
    for those who manage every site) all of them."""
    site_id = _scope(actor, site)
    if status is not None and status not in store.STATUSES:
        raise errors.ValidationFailed(
            f"status must be one of {', '.join(store.STATUSES)}", field="status"
        )
    if before is not None and not 1 <= before <= MAX_ID:
        raise errors.InvalidCursor("The cursor does not belong to this listing")
    if not 1 <= limit <= 1001:
        raise errors.ValidationFailed("limit must be from 1 to 1000", field="limit")
    with ctx.db.read() as conn:
        return store.counts(conn, site_id), store.listing(conn, site_id, status, before, limit)


def retry(ctx: Context, actor: Actor, site: Site | None, row_ids: Sequence[int] | None) -> int:
    """Queue failed calls again, due now: the given ones, or every failed one (of the
    site, or of all sites)."""
    site_id = _scope(actor, site)
    if row_ids is not None and not all(1 <= i <= MAX_ID for i in row_ids):
        raise errors.ValidationFailed("ids are delivery ids", field="ids")
    now = ctx.clock()

    def txn(conn: Connection) -> int:
        n = store.retry(conn, row_ids, site_id, now)
        audit_store.record(
            conn,
            now,
            actor.audit_name,
            "webhook.retry",
            "all failed" if row_ids is None else ",".join(map(str, row_ids))[:200],
            site_id,
            {"queued": n},
        )
        return n

    n: int = ctx.db.transact(txn)
    if n:
        ctx.wake_mailer()
    return n
