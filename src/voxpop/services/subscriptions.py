"""Notify of: subscriptions, double opt-in, unsubscribe, and deciding who hears of what.

A subscription is active once the address owner confirmed it from a mail. An address
confirmed once is trusted for later subscriptions from the reader who confirmed it (the
same browser): those need no second mail. Anyone else asking for that address gets a
confirmation mail like a stranger would, at most ``confirm_limit`` of them per address,
and every caller gets the same answer: nobody learns whether an address is subscribed.

Links in mails carry signed tokens (HMAC under the secret key, compared in constant
time): ``c1.<subscription>.<reader>.<expires>.<sig>`` confirms one subscription until it
expires, for the reader who asked for that mail (0: none), who is then trusted with the
address;
``u1.<subscriber>.<article or 0>.<sig>`` unsubscribes from one article (0: from every
digest); ``m1.<subscriber>.<sig>`` opens the page listing an address's subscriptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy.engine import Connection

from voxpop import errors
from voxpop.model import Comment, CommentStatus, Site
from voxpop.services import inputs
from voxpop.services.context import Context
from voxpop.services.identity import Actor, same, sign
from voxpop.services.readers import ensure_reader
from voxpop.store import articles as article_store
from voxpop.store import comments as comment_store
from voxpop.store import outbox as outbox_store
from voxpop.store import subscriptions as store
from voxpop.store.subscriptions import Subscriber, Subscription

SCOPES = ("thread", "replies", "comment")
DELIVERIES = ("instant", "digest")


@dataclass(frozen=True, slots=True)
class Request:
    uri: str
    email: str
    scope: str
    delivery: str = "instant"
    comment_id: int | None = None
    title: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Requested:
    reader_id: int
    minted: bool


# -- tokens ------------------------------------------------------------------------------


def _token(secret: str, kind: str, *parts: int) -> str:
    body = ".".join(str(p) for p in parts)
    return f"{kind}.{body}.{sign(secret, 'mail-' + kind, body)}"


def _verify(secret: str, kind: str, token: str, count: int) -> list[int]:
    pieces = token.split(".") if isinstance(token, str) else []
    if len(pieces) != count + 2 or pieces[0] != kind:
        raise errors.InvalidToken("The link is incomplete; open it from the mail again")
    numbers = pieces[1:-1]
    if not all(p.isascii() and p.isdigit() and len(p) <= 18 for p in numbers):
        raise errors.InvalidToken("The link is incomplete; open it from the mail again")
    body = ".".join(numbers)
    if not same(sign(secret, "mail-" + kind, body), pieces[-1]):
        raise errors.InvalidToken("The link is not valid; open it from the mail again")
    return [int(p) for p in numbers]


def confirm_token(secret: str, subscription_id: int, reader_id: int | None, expires: int) -> str:
    return _token(secret, "c1", subscription_id, reader_id or 0, expires)


def unsubscribe_token(secret: str, subscriber_id: int, article_id: int | None) -> str:
    return _token(secret, "u1", subscriber_id, article_id or 0)


def manage_token(secret: str, subscriber_id: int) -> str:
    return _token(secret, "m1", subscriber_id)


def links(ctx: Context) -> Links:
    return Links(ctx.settings.public_url, ctx.settings.secret_key)


@dataclass(frozen=True, slots=True)
class Links:
    """The absolute URLs mails link to."""

    base: str
    secret: str

    def confirm(self, subscription_id: int, reader_id: int | None, expires: int) -> str:
        token = confirm_token(self.secret, subscription_id, reader_id, expires)
        return f"{self.base}/subscriptions/confirm?token={token}"

    def unsubscribe(self, subscriber_id: int, article_id: int | None) -> str:
        token = unsubscribe_token(self.secret, subscriber_id, article_id)
        return f"{self.base}/unsubscribe?token={token}"

    def manage(self, subscriber_id: int) -> str:
        return f"{self.base}/subscriptions/manage?token={manage_token(self.secret, subscriber_id)}"

    def article(self, site: Site | None, uri: str) -> str:
        if uri.startswith(("http://", "https://")):
            return uri
        origin = site.origins[0] if site is not None and site.origins else self.base
        return origin + quote(uri, safe="/?=&%:@!$'()*+,;~-._")


# -- subscribing -------------------------------------------------------------------------


def _scope(request: Request) -> tuple[str, int, str]:
    if request.scope not in SCOPES:
        raise errors.ValidationFailed("scope must be thread, replies or comment", field="scope")
    if request.delivery not in DELIVERIES:
        raise errors.ValidationFailed("delivery must be instant or digest", field="delivery")
    comment_id = request.comment_id or 0
    if (request.scope == "comment") != bool(comment_id):
        raise errors.ValidationFailed(
            "comment_id goes with scope comment, and only with it", field="comment_id"
        )
    return request.scope, comment_id, request.delivery


def subscribe(ctx: Context, site: Site, actor: Actor, request: Request) -> Requested:
    """Ask for notifications; a confirmation mail goes out when one is needed. The
    answer is the same whether or not the address was known or already subscribed."""
    uri = inputs.uri(request.uri)
    address = inputs.email(request.email, field="email")
    if address is None:
        raise errors.ValidationFailed("Give the e-mail address to notify", field="email")
    inputs.mailable(address, "email")
    scope, comment_id, delivery = _scope(request)
    title = inputs.title(request.title)
    language = request.language if request.language in ("en", "de") else site.language
    ctx.limiter.hit("subscribe:a" + actor.address, ctx.settings.subscribe_rate)
    now = ctx.clock()

    def txn(conn: Connection) -> tuple[int, bool, bool]:
        article = article_store.get_or_create(conn, site.id, uri, title)
        if comment_id:
            comment = comment_store.get(conn, comment_id)
            shown = comment is not None and comment.status is CommentStatus.APPROVED
            if comment is None or not shown or comment.article_id != article.id:
                raise errors.UnknownComment(
                    f"Comment {comment_id} is not on this article", field="comment_id"
                )
        reader_id, minted = ensure_reader(ctx, conn, actor)
        queued = subscribe_in(
            ctx,
            conn,
            article_id=article.id,
            email=address,
            scope=scope,
            comment_id=comment_id,
            delivery=delivery,
            reader_id=reader_id,
            language=language,
            now=now,
        )
        return reader_id, minted, queued

    reader_id, minted, queued = ctx.db.transact(txn)
    ctx.readers.put(reader_id, True)
    if queued:
        ctx.wake_mailer()
    return Requested(reader_id, minted)


def subscribe_in(
    ctx: Context,
    conn: Connection,
    *,
    article_id: int,
    email: str,
    scope: str,
    comment_id: int,
    delivery: str,
    reader_id: int | None,
    language: str,
    now: datetime,
) -> bool:
    """Subscribe inside the caller's transaction (also a comment's, for ``notify``);
    return whether a confirmation mail was queued."""
    subscriber = store.ensure_subscriber(conn, email.lower(), language, now)
    subscription = store.ensure_subscription(
        conn,
        subscriber_id=subscriber.id,
        article_id=article_id,
        scope=scope,
        comment_id=comment_id,
        delivery=delivery,
        reader_id=reader_id,
        now=now,
    )
    if subscription.confirmed_at is not None:
        return False
    trusted = (
        subscriber.confirmed_at is not None
        and subscriber.reader_id is not None
        and subscriber.reader_id == reader_id
    )
    if trusted:
        store.confirm(conn, subscription, subscriber, reader_id, now)
        return False
    limit = ctx.settings.confirm_limit
    since = now - timedelta(seconds=limit.seconds)
    if outbox_store.sent_since(conn, subscriber.id, "confirm", since) >= limit.count:
        return False  # silently: the caller must not learn about the address
    return outbox_store.enqueue(
        conn,
        kind="confirm",
        subscriber_id=subscriber.id,
        event=f"{subscription.id}.{int(now.timestamp() * 1000)}",
        now=now,
        article_id=article_id,
        reason=scope,
        subscription_id=subscription.id,
        reader_id=reader_id,
    )


# -- following the mails' links ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Confirmed:
    subscription: Subscription
    already: bool
    manage_token: str


def confirm(ctx: Context, token: str) -> Confirmed:
    subscription_id, reader_id, expires = _verify(ctx.settings.secret_key, "c1", token, 3)
    now = ctx.clock()
    if now.timestamp() > expires:
        raise errors.TokenExpired(
            "This confirmation link has expired; subscribe again for a new one"
        )

    def txn(conn: Connection) -> tuple[Subscription, bool, int]:
        subscription = store.subscription(conn, subscription_id)
        if subscription is None:
            raise errors.UnknownSubscription(
                "This subscription was cancelled before it was confirmed; subscribe again"
            )
        subscriber = store.subscriber(conn, subscription.subscriber_id)
        assert subscriber is not None
        already = subscription.confirmed_at is not None
        store.confirm(conn, subscription, subscriber, reader_id or None, now)
        return subscription, already, subscriber.id

    subscription, already, subscriber_id = ctx.db.transact(txn)
    return Confirmed(subscription, already, manage_token(ctx.settings.secret_key, subscriber_id))


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """What an unsubscribe link cancels (``title`` of the article; None: every digest),
    how many subscriptions it cancelled (or, before the click, how many it would), and the
    address's manage token and language for the page."""

    cancelled: int
    title: str | None
    manage_token: str
    language: str | None


def _unsubscribing(
    ctx: Context, conn: Connection, token: str
) -> tuple[int, int, str | None, str | None]:
    subscriber_id, article_id = _verify(ctx.settings.secret_key, "u1", token, 2)
    subscriber = store.subscriber(conn, subscriber_id)
    title = None
    if article_id:
        article = article_store.by_id(conn, article_id)
        title = (article.title or article.uri) if article else ""
    return subscriber_id, article_id, title, subscriber.language if subscriber else None


def unsubscribe(ctx: Context, token: str) -> Unsubscribed:
    """Cancel the subscriptions a mail's unsubscribe link names (idempotent: a second
    click, or the mail client's one-click POST after the page's, cancels nothing more)."""

    def txn(conn: Connection) -> Unsubscribed:
        subscriber_id, article_id, title, language = _unsubscribing(ctx, conn, token)
        if article_id:
            cancelled = store.cancel(conn, subscriber_id, article_id=article_id)
        else:
            cancelled = store.cancel(conn, subscriber_id, delivery="digest")
        manage = manage_token(ctx.settings.secret_key, subscriber_id)
        return Unsubscribed(cancelled, title, manage, language)

    return ctx.db.transact(txn)


def describe(ctx: Context, token: str) -> Unsubscribed:
    """What an unsubscribe link would cancel, for the page before the button:
    ``cancelled`` counts the subscriptions the click would cancel."""
    with ctx.db.read() as conn:
        subscriber_id, article_id, title, language = _unsubscribing(ctx, conn, token)
        mine = store.of_subscribers(conn, [subscriber_id])
    if article_id:
        left = sum(1 for s in mine if s.article_id == article_id)
    else:
        left = sum(1 for s in mine if s.delivery == "digest")
    return Unsubscribed(left, title, manage_token(ctx.settings.secret_key, subscriber_id), language)


@dataclass(frozen=True, slots=True)
class Overview:
    subscriber: Subscriber
    subscriptions: list[Subscription]


def overview(ctx: Context, token: str) -> Overview:
    (subscriber_id,) = _verify(ctx.settings.secret_key, "m1", token, 1)
    with ctx.db.read() as conn:
        subscriber = store.subscriber(conn, subscriber_id)
        if subscriber is None:
            raise errors.UnknownSubscription("No subscriptions for this link")
        mine = store.of_subscriber(conn, subscriber_id)
    return Overview(subscriber, mine)


def change(
    ctx: Context, token: str, action: str, subscription_id: int | None, delivery: str | None
) -> int:
    """From the manage page: ``cancel`` one subscription (or ``cancel_all``), or set one's
    ``delivery``. Returns how many subscriptions changed."""
    (subscriber_id,) = _verify(ctx.settings.secret_key, "m1", token, 1)
    if action not in ("cancel", "cancel_all", "delivery"):
        raise errors.ValidationFailed("Choose cancel, cancel_all or delivery", field="action")

    def txn(conn: Connection) -> int:
        if action == "cancel_all":
            return store.cancel(conn, subscriber_id)
        if subscription_id is None:
            raise errors.ValidationFailed("Choose a subscription", field="subscription_id")
        if action == "cancel":
            return store.cancel(conn, subscriber_id, subscription_id=subscription_id)
        if delivery in DELIVERIES:
            return store.set_delivery(conn, subscriber_id, subscription_id, delivery)
        raise errors.ValidationFailed("delivery must be instant or digest", field="delivery")

    return ctx.db.transact(txn)


# -- deciding who hears of a new comment -------------------------------------------------


def next_digest(now: datetime, hour: int) -> datetime:
    """The next daily digest time (``hour`` o'clock UTC) after ``now``."""
    at = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


def decide(
    ctx: Context,
    conn: Connection,
    comment: Comment,
    author_email: str | None,
    now: datetime,
    *,
    email_known: bool = True,
) -> int:
    """In the transaction that approves a comment: queue a notification for every
    confirmed subscriber it concerns (the author's address, when not ``email_known``, is
    read only if there are any). Returns how many were queued."""
    if not store.article_has_subscribers(conn, comment.article_id):
        return 0
    if not email_known:
        author_email = comment_store.author_email(conn, comment.id)
    above = comment_store.ancestors(conn, comment.parent_id) if comment.parent_id else []
    return outbox_store.enqueue_for_comment(
        conn,
        article_id=comment.article_id,
        comment_id=comment.id,
        author_reader=comment.reader_id,
        author_email=author_email,
        above=above,
        now=now,
        digest_due=next_digest(now, ctx.settings.digest_hour),
    )
