"""Comment verbs: post, edit, delete, vote, moderate (reading threads: ``services.threads``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from voxpop import errors
from voxpop.model import (
    TRANSITIONS,
    Comment,
    CommentStatus,
    Moderation,
    Site,
    VoteTally,
)
from voxpop.services import access, events, feedback, inputs, moderation, subscriptions, webhooks
from voxpop.services.context import Context
from voxpop.services.identity import Actor
from voxpop.services.readers import ensure_reader
from voxpop.services.render import RENDERER, count_links, render
from voxpop.services.threads import wilson
from voxpop.store import articles as article_store
from voxpop.store import audit as audit_store
from voxpop.store import comments as comment_store
from voxpop.store import moderation as moderation_store
from voxpop.store import votes as vote_store

log = logging.getLogger("voxpop.comments")


@dataclass(frozen=True, slots=True)
class NewComment:
    uri: str
    body: str
    parent_id: int | None = None
    title: str | None = None
    author_name: str | None = None
    author_email: str | None = None
    author_website: str | None = None
    anchor: dict[str, Any] | None = None
    notify: str | None = None
    # Anti-spam signals: the hidden form field bots fill in, and the seconds from showing
    # the form to sending it (None: unknown).
    honeypot: str | None = None
    elapsed: float | None = None
    # (address, user agent) of the request, only ever sent to Akismet when it is on.
    client: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Posted:
    comment: Comment
    reader_id: int
    minted: bool


@dataclass(frozen=True, slots=True)
class _Draft:
    """A comment checked, rendered and ready to store."""

    uri: str
    body: str
    html: str
    name: str | None
    email: str | None
    website: str | None
    title: str
    created_at: datetime
    anchor: dict[str, Any] | None
    signals: moderation.Signals


PostResult = tuple[Comment, int, bool, tuple[int, bool], bool]


def post(ctx: Context, site: Site, actor: Actor, new: NewComment) -> Posted:
    draft = _draft(ctx, site, actor, new)
    if ctx.akismet is not None and site.moderation is not Moderation.NONE:
        draft = replace(draft, signals=replace(draft.signals, akismet=_akismet(ctx, new, draft)))
    return _posted(ctx, site, draft, ctx.db.transact(_store(ctx, site, actor, new, draft)))


async def post_async(ctx: Context, site: Site, actor: Actor, new: NewComment) -> Posted:
    """``post`` for the event loop: the checks and rendering run here, the transaction in
    the writer, awaited without occupying a thread."""
    draft = _draft(ctx, site, actor, new)
    if ctx.akismet is not None and site.moderation is not Moderation.NONE:
        from anyio import to_thread

        verdict = await to_thread.run_sync(_akismet, ctx, new, draft)
        draft = replace(draft, signals=replace(draft.signals, akismet=verdict))
    stored = await ctx.db.transact_async(_store(ctx, site, actor, new, draft), on_loop=True)
    return _posted(ctx, site, draft, stored)


def _akismet(ctx: Context, new: NewComment, draft: _Draft) -> bool | None:
    from voxpop.spam.akismet import AkismetComment

    ip, agent = new.client or ("", "")
    return ctx.akismet.check(  # type: ignore[no-any-return]
        AkismetComment(
            user_ip=ip,
            user_agent=agent,
            permalink=ctx.settings.public_url + draft.uri,
            comment_author=draft.name or "",
            comment_author_email=draft.email or "",
            comment_author_url=draft.website or "",
            comment_content=draft.body,
        )
    )


def _draft(ctx: Context, site: Site, actor: Actor, new: NewComment) -> _Draft:
    uri = inputs.uri(new.uri)
    body = inputs.body(new.body, ctx.settings.max_comment_chars)
    name = inputs.name(new.author_name)
    email = inputs.email(new.author_email)
    if new.notify is not None:
        if new.notify not in ("thread", "replies"):
            raise errors.ValidationFailed("notify must be thread or replies", field="notify")
        if email is None:
            raise errors.ValidationFailed(
                "Give your e-mail address to be notified", field="author_email"
            )
        inputs.mailable(email, "author_email")
        ctx.limiter.hit("subscribe:a" + actor.address, ctx.settings.subscribe_rate)
    website = inputs.website(new.author_website)
    title = inputs.title(new.title)
    if new.elapsed is not None and not -86400 <= new.elapsed <= 10**7:
        raise errors.ValidationFailed("elapsed is a number of seconds", field="elapsed")
    ctx.limiter.hit("post:" + actor.key, ctx.settings.post_rate)
    if actor.reader_id is not None:
        ctx.limiter.hit("post:a" + actor.address, ctx.settings.post_rate)
    return _Draft(
        uri=uri,
        body=body,
        html=render(body),
        name=name,
        email=email,
        website=website,
        title=title,
        created_at=ctx.clock(),
        anchor=feedback.check_anchor(ctx, site, uri, new.anchor) if new.anchor else None,
        signals=moderation.signals(
            body, name, website, count_links(body), new.honeypot, new.elapsed
        ),
    )


def _store(
    ctx: Context, site: Site, actor: Actor, new: NewComment, draft: _Draft
) -> Callable[[Connection], PostResult]:
    cached = ctx.article_ids.get((site.id, draft.uri))
    title = draft.title

    def txn(conn: Connection) -> PostResult:
        known = cached
        if known is None or (title and not known[1]):
            article = article_store.get_or_create(conn, site.id, draft.uri, title)
            known = (article.id, bool(article.title or title))
        article_id = known[0]
        moderation.check_open(conn, article_id)
        parent: Comment | None = None
        if new.parent_id is not None:
            parent = comment_store.get(conn, new.parent_id)
            if parent is None or parent.article_id != article_id:
                raise errors.UnknownComment(
                    f"Comment {new.parent_id} is not on this article", field="parent_id"
                )
            if parent.status is CommentStatus.DELETED:
                raise errors.CommentDeleted("You cannot reply to a deleted comment")
            own_shadowed = (
                parent.status is CommentStatus.SHADOWED
                and actor.reader_id is not None
                and parent.reader_id == actor.reader_id
            )
            if parent.status is not CommentStatus.APPROVED and not own_shadowed:
                raise errors.UnknownComment(f"Comment {new.parent_id} is not visible")
        reader_id, minted = ensure_reader(ctx, conn, actor)
        judged = moderation.judge(
            ctx, conn, site, actor, None if minted else reader_id, draft.body, draft.name,
            draft.email, draft.signals, draft.created_at,
        )  # fmt: skip
        if parent is not None and parent.status is CommentStatus.SHADOWED:
            # Below a shadowed comment, a reply is seen where its parent is: by its author.
            judged = moderation.Judgement(CommentStatus.SHADOWED, ("shadowed",), None)
        comment = comment_store.insert(
            conn,
            article_id=article_id,
            site_id=site.id,
            parent_id=parent.id if parent else None,
            root_id=(parent.root_id or parent.id) if parent else None,
            reader_id=reader_id,
            author_name=draft.name,
            author_email=draft.email,
            author_website=draft.website,
            body=draft.body,
            html=draft.html,
            renderer=RENDERER,
            status=judged.status.value,
            created_at=draft.created_at,
            ip_hash=actor.address,
            address_key=actor.address_key or None,
            spam_score=judged.spam_score,
            reasons=",".join(judged.reasons)[:200] or None,
            anchor=draft.anchor,
            anchor_state=draft.anchor["state"] if draft.anchor else None,
        )
        approved = judged.status is CommentStatus.APPROVED
        article_store.touch(conn, article_id, 1 if approved else 0)
        webhooks.comment_created(ctx, conn, site, comment)
        events.comment_shown(ctx, conn, comment)
        mailed = False
        if new.notify and draft.email:
            mailed = subscriptions.subscribe_in(
                ctx,
                conn,
                article_id=article_id,
                email=draft.email,
                scope=new.notify,
                comment_id=0,
                delivery="instant",
                reader_id=reader_id,
                language=site.language,
                now=draft.created_at,
            )
        if approved:
            mailed = (
                subscriptions.decide(ctx, conn, comment, draft.email, draft.created_at) > 0
                or mailed
            )
        return comment, reader_id, minted, known, mailed

    return txn


def _posted(ctx: Context, site: Site, draft: _Draft, stored: PostResult) -> Posted:
    """After the commit: remember what is now known to exist."""
    comment, reader_id, minted, known, mailed = stored
    ctx.article_ids.put((site.id, draft.uri), known)
    if mailed:
        ctx.wake_mailer()
    webhooks.wake(ctx, site)
    ctx.wake_events()
    ctx.readers.put(reader_id, True)
    return Posted(as_seen_by_author(comment), reader_id, minted)


def as_seen_by_author(comment: Comment) -> Comment:
    """What the author is told: a shadow-banned author sees their comment as published,
    and a spammer sees theirs as waiting for a moderator (nothing to tune against)."""
    if comment.status is CommentStatus.SHADOWED:
        return replace(comment, status=CommentStatus.APPROVED)
    if comment.status is CommentStatus.SPAM:
        return replace(comment, status=CommentStatus.PENDING)
    return comment


def get(ctx: Context, actor: Actor, comment_id: int) -> Comment:
    """One comment: approved ones for anyone, held ones for their author and moderators
    only. A deleted one is gone (its placeholder lives on only inside its thread)."""
    with ctx.db.read() as conn:
        comment = comment_store.get(conn, comment_id)
    if comment is None or not access.can_see(actor, comment):
        raise errors.UnknownComment(f"No comment {comment_id}")
    if comment.status is CommentStatus.DELETED:
        raise errors.CommentGone(f"Comment {comment_id} has been deleted")
    if not actor.staff:
        return as_seen_by_author(comment)
    return comment


def _owned(ctx: Context, conn: Connection, actor: Actor, comment_id: int) -> Comment:
    comment = comment_store.get_for_update(conn, comment_id)
    if comment is None:
        raise errors.UnknownComment(f"No comment {comment_id}")
    if comment.status is CommentStatus.DELETED:
        raise errors.CommentDeleted()
    access.check_can_change(actor, comment, ctx.clock(), ctx.settings.edit_window)
    return comment


def edit(ctx: Context, actor: Actor, comment_id: int, body: str) -> Comment:
    text = inputs.body(body, ctx.settings.max_comment_chars)
    html = render(text)
    now = ctx.clock()

    def txn(conn: Connection) -> Comment | None:
        comment = _owned(ctx, conn, actor, comment_id)
        values: dict[str, Any] = {}
        if actor.staff:
            moderation.forget_lessons(conn, [comment_id])
        else:
            changed = moderation.rejudge_edit(ctx, conn, comment_id, comment.status, text)
            if changed is not None:
                values.update(status=changed[0].value, reasons=changed[1])
        comment_store.update(
            conn, comment_id, body=text, html=html, renderer=RENDERER, edited_at=now, **values
        )
        hidden = comment.status is CommentStatus.APPROVED and "status" in values
        article_store.touch(conn, comment.article_id, -1 if hidden else 0)
        updated = comment_store.get(conn, comment_id)
        webhooks.comment_edited(ctx, conn, updated, comment.status, actor.staff, now)
        if hidden or updated is None:
            events.comment_removed(ctx, conn, comment.article_id, comment_id)
        else:
            events.comment_edited(ctx, conn, updated)
        return updated

    updated = ctx.db.transact(txn)
    assert updated is not None
    webhooks.wake(ctx)
    ctx.wake_events()
    return updated if actor.staff else as_seen_by_author(updated)


def delete(ctx: Context, actor: Actor, comment_id: int) -> None:
    now = ctx.clock()

    def txn(conn: Connection) -> None:
        comment = _owned(ctx, conn, actor, comment_id)
        _soft_delete(ctx, conn, comment)
        webhooks.comment_deleted(ctx, conn, comment, actor.staff, now)

    ctx.db.transact(txn)
    webhooks.wake(ctx)
    ctx.wake_events()


def _soft_delete(ctx: Context, conn: Connection, comment: Comment) -> None:
    comment_store.update(
        conn,
        comment.id,
        status=CommentStatus.DELETED.value,
        body="",
        html="",
        author_name=None,
        author_email=None,
        author_website=None,
    )
    was_counted = comment.status is CommentStatus.APPROVED
    article_store.touch(conn, comment.article_id, -1 if was_counted else 0)
    if was_counted:
        events.comment_removed(ctx, conn, comment.article_id, comment.id)


MODERATION_ACTIONS = {
    "approve": CommentStatus.APPROVED,
    "reject": CommentStatus.REJECTED,
    "spam": CommentStatus.SPAM,
    "delete": CommentStatus.DELETED,
}


def moderate(ctx: Context, actor: Actor, comment_id: int, action: str) -> Comment:
    """A moderator's decision on a comment: moves it along ``TRANSITIONS``, resolves its
    flags, teaches the spam classifier (approve: ham, spam: spam), records it in the audit
    log and, when Akismet is on, reports spam/ham to it."""
    target = MODERATION_ACTIONS.get(action)
    if target is None:
        raise errors.ValidationFailed(
            "action must be approve, reject, spam or delete", field="action"
        )
    if not actor.staff:
        access.check_moderator(actor)  # 401/403 before saying whether the comment exists
    now = ctx.clock()

    def txn(conn: Connection) -> tuple[Comment | None, int, Any]:
        comment = comment_store.get_for_update(conn, comment_id)
        site_id = moderation_store.site_of_comment(conn, comment_id) if comment else None
        site = ctx.site_by_id(site_id)
        if comment is None or site is None:
            access.check_moderator(actor)
            raise errors.UnknownComment(f"No comment {comment_id}")
        access.require(actor, "comment.moderate", site.name)
        mailed = 0
        extra = moderation_store.comment_extra(conn, comment_id)
        before = comment.status
        if comment.status is not target:
            if target not in TRANSITIONS[comment.status]:
                raise errors.InvalidTransition(
                    f"A {comment.status.value} comment cannot become {target.value}"
                )
            trained = moderation.learn(conn, site.id, extra, target)
            if trained is not None:
                comment_store.update(conn, comment_id, trained=trained)
            if target is CommentStatus.DELETED:
                _soft_delete(ctx, conn, comment)
            else:
                comment_store.update(conn, comment_id, status=target.value)
                delta = (target is CommentStatus.APPROVED) - (
                    comment.status is CommentStatus.APPROVED
                )
                article_store.touch(conn, comment.article_id, delta)
                if target is CommentStatus.APPROVED:
                    # Deciding again after a reject → approve sends nothing twice.
                    mailed = subscriptions.decide(ctx, conn, comment, None, now, email_known=False)
            audit_store.record(
                conn, now, actor.audit_name, f"comment.{action}", f"comment:{comment_id}",
                site.id, {"from": before.value, "to": target.value},
            )  # fmt: skip
            webhooks.comment_moderated(
                ctx, conn, site, comment_id, before, target, "moderator", now
            )
        moderation_store.resolve_flags(conn, comment_id, now)
        after = comment_store.get(conn, comment_id)
        if target is not CommentStatus.DELETED:  # a deletion announced itself
            events.comment_changed(ctx, conn, before, after)
        return after, mailed, extra

    updated, mailed, extra = ctx.db.transact(txn)
    assert updated is not None
    if mailed:
        ctx.wake_mailer()
    webhooks.wake(ctx)
    ctx.wake_events()
    if ctx.akismet is not None and target in (CommentStatus.SPAM, CommentStatus.APPROVED):
        _report_to_akismet(ctx, extra, target is CommentStatus.SPAM)
    return updated


def _report_to_akismet(ctx: Context, extra: Any, spam: bool) -> None:
    from voxpop.spam.akismet import AkismetComment

    if extra is None or not extra.body:
        return
    comment = AkismetComment(
        user_ip="",
        user_agent="",
        comment_author=extra.author_name or "",
        comment_author_email=extra.author_email or "",
        comment_author_url=extra.author_website or "",
        comment_content=extra.body,
    )
    ok = ctx.akismet.submit_spam(comment) if spam else ctx.akismet.submit_ham(comment)
    if not ok:
        log.warning("Akismet did not take the moderator's %s report", "spam" if spam else "ham")


def vote(ctx: Context, actor: Actor, comment_id: int, value: int) -> tuple[VoteTally, int, bool]:
    """Set the reader's vote; return the tally, the reader id and whether it was minted."""
    if value not in (-1, 0, 1):
        raise errors.ValidationFailed("value must be -1, 0 or 1", field="value")
    ctx.limiter.hit("vote:" + actor.key, ctx.settings.vote_rate)
    if actor.reader_id is not None:
        ctx.limiter.hit("vote:a" + actor.address, ctx.settings.vote_rate)

    def txn(conn: Connection) -> tuple[int, int, int, bool]:
        article_id = comment_store.article_of(conn, comment_id)
        if article_id is not None:
            article_store.lock(conn, article_id)  # the article before its comment
        comment = comment_store.get_for_update(conn, comment_id)
        if comment is None or comment.status is not CommentStatus.APPROVED:
            raise errors.UnknownComment(f"No comment {comment_id} to vote on")
        reader_id, minted = ensure_reader(ctx, conn, actor)
        if comment.reader_id == reader_id and value != 0:
            raise errors.OwnComment()
        before = vote_store.get(conn, comment_id, reader_id)
        up, down = comment.up, comment.down
        if before != value:
            vote_store.set(conn, comment_id, reader_id, value)
            up, down = comment_store.add_votes(
                conn, comment_id, (value == 1) - (before == 1), (value == -1) - (before == -1)
            )
            comment_store.set_score(conn, comment_id, wilson(up, down))
            article_store.touch(conn, comment.article_id)
            events.votes(ctx, conn, comment.article_id, comment_id, up, down)
        return up, down, reader_id, minted

    up, down, reader_id, minted = ctx.db.transact(txn)
    ctx.wake_events()
    ctx.readers.put(reader_id, True)
    return VoteTally(up, down, value), reader_id, minted
