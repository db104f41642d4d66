"""Privacy: readers export and erase their own data, operators purge an author from a
site, and address hashes are forgotten once they are older than the retention.

Erasing keeps the reader row (the token goes on working, as a reader with nothing) and
every comment as a deleted placeholder, so threads keep their shape; everything else the
reader gave is deleted, and every aggregate it fed (comment counts, vote counters and
scores, rating tallies) is corrected in the same transaction. Webhook calls carrying the
reader's comments or ratings are deleted (queued or sent) and the receivers are told to
drop them (``webhooks.erased``). Erasing twice erases nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from voxpop import errors
from voxpop.model import CommentStatus, Site
from voxpop.services import access, events, moderation, webhooks
from voxpop.services.context import Context
from voxpop.services.identity import Actor
from voxpop.services.threads import wilson
from voxpop.store import articles as article_store
from voxpop.store import audit as audit_store
from voxpop.store import privacy as store
from voxpop.store import ratings as rating_store
from voxpop.store import readers as reader_store

BATCH = 1000  # address hashes forgotten per transaction
# Statuses as their author is told them (services.comments.as_seen_by_author).
SEEN_AS = {CommentStatus.SHADOWED.value: "approved", CommentStatus.SPAM.value: "pending"}


@dataclass(frozen=True, slots=True)
class ExportedReader:
    id: int
    created_at: datetime
    verified_at: datetime | None


@dataclass(frozen=True, slots=True)
class ExportedComment:
    id: int
    site: str
    uri: str
    parent_id: int | None
    body: str
    html: str
    status: str
    author_name: str | None
    author_email: str | None
    author_website: str | None
    created_at: datetime
    edited_at: datetime | None
    anchor: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ExportedVote:
    comment_id: int
    value: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ExportedRating:
    site: str
    uri: str
    stars: int
    counted: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ExportedSubscription:
    email: str
    site: str
    uri: str
    scope: str
    comment_id: int | None
    delivery: str
    confirmed_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ExportedFlag:
    comment_id: int
    reason: str
    note: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Export:
    reader: ExportedReader
    comments: list[ExportedComment]
    votes: list[ExportedVote]
    ratings: list[ExportedRating]
    subscriptions: list[ExportedSubscription]
    flags: list[ExportedFlag]
    exported_at: datetime


def _own(actor: Actor) -> int:
    if actor.reader_id is None:
        raise errors.Unauthorized("Send your reader token as Authorization: Bearer <token>")
    return actor.reader_id


def export(ctx: Context, actor: Actor) -> Export:
    """Everything stored of the calling reader: one query per table."""
    reader_id = _own(actor)
    with ctx.db.read() as conn:
        reader = store.reader(conn, reader_id)
        if reader is None:
            raise errors.UnknownReader(f"No reader {reader_id} is stored here")
        comments = store.comments_of(conn, reader_id)
        votes = store.votes_of(conn, reader_id)
        ratings = store.ratings_of(conn, reader_id)
        subscriptions = store.subscriptions_of(conn, reader_id)
        flags = store.flags_of(conn, reader_id)
    return Export(
        reader=ExportedReader(reader_id, reader["created_at"], reader["verified_at"]),
        comments=[
            ExportedComment(
                id=int(c["id"]),
                site=str(c["site"]),
                uri=str(c["uri"]),
                parent_id=c["parent_id"],
                body=str(c["body"]),
                html=str(c["html"]),
                # As the author sees it everywhere else (a shadow ban stays a shadow ban).
                status=SEEN_AS.get(str(c["status"]), str(c["status"])),
                author_name=c["author_name"],
                author_email=c["author_email"],
                author_website=c["author_website"],
                created_at=c["created_at"],
                edited_at=c["edited_at"],
                anchor=c["anchor"],
            )
            for c in comments
        ],
        votes=[ExportedVote(int(v["comment_id"]), int(v["value"]), v["created_at"]) for v in votes],
        ratings=[
            ExportedRating(
                str(r["site"]),
                str(r["uri"]),
                int(r["stars"]),
                bool(r["counted"]),
                r["created_at"],
                r["updated_at"],
            )
            for r in ratings
        ],
        subscriptions=[
            ExportedSubscription(
                email=str(s["email"]),
                site=str(s["site"]),
                uri=str(s["uri"]),
                scope=str(s["scope"]),
                comment_id=int(s["comment_id"]) or None,
                delivery=str(s["delivery"]),
                confirmed_at=s["confirmed_at"],
                created_at=s["created_at"],
            )
            for s in subscriptions
        ],
        flags=[
            ExportedFlag(int(f["comment_id"]), str(f["reason"]), str(f["note"]), f["created_at"])
            for f in flags
        ],
        exported_at=ctx.clock(),
    )


def delete_me(ctx: Context, actor: Actor) -> dict[str, int]:
    """Erase the calling reader's data everywhere; return how much of each kind went."""
    reader_id = _own(actor)
    now = ctx.clock()
    name = f"reader:{reader_id}"

    def txn(conn: Connection) -> dict[str, int]:
        if not reader_store.exists(conn, reader_id):
            return _nothing()
        erased = _erase(ctx, conn, reader_id, None, now)
        store.clear_verified(conn, reader_id)
        audit_store.record(conn, now, name, "privacy.delete", name, None, dict(erased))
        return erased

    result: dict[str, int] = ctx.db.transact(txn)
    webhooks.wake(ctx)
    ctx.wake_events()
    return result


def purge_author(ctx: Context, actor: Actor, site: Site, reader_id: int) -> dict[str, int]:
    """Erase one reader's data on one site's articles (operators); return the counts."""
    access.require(actor, "author.purge", site.name)
    now = ctx.clock()

    def txn(conn: Connection) -> dict[str, int]:
        if not reader_store.exists(conn, reader_id):
            raise errors.UnknownReader(f"No reader {reader_id}")
        erased = _erase(ctx, conn, reader_id, site.id, now)
        audit_store.record(
            conn, now, actor.audit_name, "author.purge", f"reader:{reader_id}", site.id, erased
        )
        return erased

    result: dict[str, int] = ctx.db.transact(txn)
    webhooks.wake(ctx, site)
    ctx.wake_events()
    return result


def _nothing() -> dict[str, int]:
    return {"comments": 0, "votes": 0, "ratings": 0, "subscriptions": 0}


def _erase(
    ctx: Context, conn: Connection, reader_id: int, site_id: int | None, now: datetime
) -> dict[str, int]:
    """Inside the caller's transaction: erase the reader's data (on one site, or all)."""
    # Comments become placeholders; the articles' visible counts and versions follow.
    doomed = store.comments_to_erase(conn, reader_id, site_id)
    # What the spam classifier learnt from their words goes with the words.
    moderation.forget_lessons(conn, [int(c["id"]) for c in doomed])
    store.erase_comments(conn, [int(c["id"]) for c in doomed])
    # The live-update log keeps nothing of them; readers watching see them go.
    events.forget(conn, [int(c["id"]) for c in doomed])
    for c in doomed:
        if c["status"] == CommentStatus.APPROVED.value:
            events.comment_removed(ctx, conn, int(c["article_id"]), int(c["id"]))
    store.erase_flags(conn, reader_id, site_id)
    shown: dict[int, int] = {}
    for c in doomed:
        approved = c["status"] == CommentStatus.APPROVED.value
        shown[int(c["article_id"])] = shown.get(int(c["article_id"]), 0) + approved
    for article_id, count in sorted(shown.items()):
        article_store.touch(conn, article_id, -count)

    # Votes go; the counters and scores of the comments they were on follow.
    withdrawn = store.withdraw_votes(conn, reader_id, site_id)
    ups = [int(v["comment_id"]) for v in withdrawn if v["value"] > 0]
    downs = [int(v["comment_id"]) for v in withdrawn if v["value"] < 0]
    changed = store.uncount_votes(conn, ups, downs)
    store.set_scores(conn, {int(c["id"]): wilson(int(c["up"]), int(c["down"])) for c in changed})
    for article_id in sorted({int(c["article_id"]) for c in changed} - shown.keys()):
        article_store.touch(conn, article_id)
    for c in changed:  # readers watching see the counts change
        events.votes(ctx, conn, int(c["article_id"]), int(c["id"]), int(c["up"]), int(c["down"]))

    # Ratings go; the articles' counted aggregates follow.
    removed = store.withdraw_ratings(conn, reader_id, site_id)
    for r in removed:
        if r["counted"]:
            rating_store.add(conn, int(r["article_id"]), int(r["stars"]), None)
    for rated in sorted({int(r["article_id"]) for r in removed if r["counted"]}):
        events.rating(ctx, conn, rated, rating_store.tally(conn, rated))

    # Subscriptions go with the mail waiting for them; on a full erase, so do the
    # addresses the reader confirmed.
    owned = store.owned_subscribers(conn, reader_id) if site_id is None else []
    cancelled = store.cancel_subscriptions(
        conn, store.subscriptions_to_cancel(conn, reader_id, site_id)
    )
    store.delete_subscribers(conn, owned)

    # Webhook calls that carry their comments or ratings go, sent or not, and each site's
    # receiver is told to drop what it holds of them.
    webhooks.erased(
        ctx,
        conn,
        reader_id,
        site_id,
        store.comments_on(conn, reader_id, site_id),
        {int(c["id"]): str(c["status"]) for c in doomed},
        [int(r["article_id"]) for r in removed],
        now,
    )
    return {
        "comments": len(doomed),
        "votes": len(withdrawn),
        "ratings": len(removed),
        "subscriptions": cancelled,
    }


def forget_old_addresses(ctx: Context) -> int:
    """Drop address hashes older than the retention (``address_retention`` days, at least
    one: a rating's hash only matters on the day it was made, so no tally changes)."""
    before = ctx.clock() - timedelta(days=max(1, ctx.settings.address_retention))
    forgotten = 0
    while True:  # in batches, each its own short transaction: the writer is shared
        batch: int = ctx.db.transact(lambda conn: store.forget_addresses(conn, before, BATCH))
        forgotten += batch
        if batch < BATCH:
            return forgotten
