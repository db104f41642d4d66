"""Composing the outbox's mails: what a claimed row says now, rendered from its template.

``load`` reads what a batch of claimed rows needs in a handful of queries; ``Composer``
turns one row into its recipient and message, or raises ``Skip`` when there is nothing to
send any more (a comment removed meanwhile, an address that unsubscribed meanwhile).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape as html_escape
from typing import Any

from voxpop.mail import message as mail_message
from voxpop.mail.render import Rendered, render
from voxpop.model import CommentStatus, Site
from voxpop.services.context import Context
from voxpop.services.subscriptions import Links, links
from voxpop.store import articles as article_store
from voxpop.store import comments as comment_store
from voxpop.store import outbox as outbox_store
from voxpop.store import subscriptions as subscription_store
from voxpop.store.outbox import Claimed

ANONYMOUS = {"en": "Anonymous", "de": "Anonym"}


class Skip(Exception):
    """Nothing to send for this row any more (recorded as ``dropped`` with the reason)."""


@dataclass
class Batch:
    """Everything rendering a batch needs, read in a handful of queries."""

    subscribers: dict[int, Any] = field(default_factory=dict)
    articles: dict[int, Any] = field(default_factory=dict)
    comments: dict[int, Any] = field(default_factory=dict)
    subscribed: set[tuple[int, int]] = field(default_factory=set)  # (subscriber, article)
    digest_subscribed: set[tuple[int, int]] = field(default_factory=set)
    confirms: dict[int, Any] = field(default_factory=dict)  # subscription id → subscription
    digests: dict[int, list[int]] = field(default_factory=dict)
    rendered: dict[tuple[int, str, str], Rendered] = field(default_factory=dict)


def load(ctx: Context, claimed: Sequence[Claimed]) -> Batch:
    """Read what composing the ``claimed`` rows needs, as the database says now."""
    data = Batch()
    subscriber_ids = {row.subscriber_id for row in claimed}
    digest_ids = [row.id for row in claimed if row.kind == "digest"]
    confirm_ids = [
        row.subscription_id
        for row in claimed
        if row.kind == "confirm" and row.subscription_id is not None
    ]
    with ctx.db.read() as conn:
        data.subscribers = subscription_store.subscribers_by_ids(conn, subscriber_ids)
        data.digests = outbox_store.digest_items(conn, digest_ids)
        comment_ids = [row.comment_id for row in claimed if row.comment_id is not None]
        for items in data.digests.values():
            comment_ids.extend(items)
        data.comments = comment_store.for_mail(conn, comment_ids)
        article_ids = {row.article_id for row in claimed if row.article_id is not None}
        article_ids |= {c.article_id for c in data.comments.values()}
        data.articles = article_store.by_ids(conn, sorted(article_ids))
        mine = subscription_store.of_subscribers(conn, subscriber_ids, article_ids)
        for sub in mine:
            if sub.id in confirm_ids:
                data.confirms[sub.id] = sub
            if sub.confirmed_at is None:
                continue  # only a confirmed subscription makes a mail still wanted
            data.subscribed.add((sub.subscriber_id, sub.article_id))
            if sub.delivery == "digest":
                data.digest_subscribed.add((sub.subscriber_id, sub.article_id))
    return data


# Stand-ins for a recipient's own links in a text rendered for all of a comment's readers.
_UNSUBSCRIBE_SLOT = "https://unsubscribe.voxpop.invalid/"
_MANAGE_SLOT = "https://manage.voxpop.invalid/"


def _with_links(shared: Rendered, unsubscribe: str, manage: str) -> Rendered:
    def fill(text: str, escape: bool) -> str:
        u, m = (html_escape(unsubscribe), html_escape(manage)) if escape else (unsubscribe, manage)
        return text.replace(_UNSUBSCRIBE_SLOT, u).replace(_MANAGE_SLOT, m)

    return Rendered(shared.subject, fill(shared.text, False), fill(shared.html, True))


class Composer:
    """Composes the mails of one worker (its links, sites and message ids' domain)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.links: Links = links(ctx)
        self.domain = mail_message.domain_of(ctx.settings.mail_from)
        self.sites: dict[int, Site] = {site.id: site for site in ctx.sites.values()}

    def compose(self, row: Claimed, data: Batch) -> tuple[str, bytes]:
        """The recipient and the message of one claimed row; ``Skip`` when there is
        nothing to send any more."""
        subscriber = data.subscribers.get(row.subscriber_id)
        if subscriber is None:
            raise Skip("the address is no longer known")
        lang = subscriber.language if subscriber.language in ANONYMOUS else "en"
        references: list[str] = []
        unsubscribe: str | None = None
        site: Site | None = None
        if row.kind == "confirm":
            subscription = data.confirms.get(row.subscription_id or 0)
            if subscription is None:
                raise Skip("the subscription was cancelled")
            if subscription.confirmed_at is not None:
                raise Skip("already confirmed")
            article = data.articles.get(subscription.article_id)
            site = self._site(article)
            ttl = self.ctx.settings.confirm_ttl
            # From the request, not the send: a mail delayed by retries gets less time.
            expires = int(row.created_at.timestamp()) + ttl
            values: dict[str, Any] = {
                **self._article_values(site, article),
                "scope": subscription.scope,
                "confirm_url": self.links.confirm(subscription.id, row.reader_id, expires),
                "expires_hours": max(1, ttl // 3600),
                "manage_url": self.links.manage(subscriber.id),
            }
            if article is not None:
                references = [mail_message.thread_id(article.id, self.domain)]
        elif row.kind == "notify":
            comment = data.comments.get(row.comment_id or 0)
            if comment is None or comment.status != CommentStatus.APPROVED.value:
                raise Skip("the comment is no longer shown")
            if (subscriber.id, comment.article_id) not in data.subscribed:
                raise Skip("unsubscribed")
            article = data.articles.get(comment.article_id)
            site = self._site(article)
            unsubscribe = self.links.unsubscribe(subscriber.id, comment.article_id)
            reason = row.reason or "thread"
            # Everyone told of one comment gets the same text but for their own two links:
            # rendered once per comment, reason and language, then the links go in.
            key = (comment.id, reason, lang)
            shared = data.rendered.get(key)
            if shared is None:
                values = {
                    **self._article_values(site, article),
                    "reason": reason,
                    "comment": self._comment_values(site, article, comment, lang),
                    "unsubscribe_url": _UNSUBSCRIBE_SLOT,
                    "manage_url": _MANAGE_SLOT,
                }
                shared = data.rendered[key] = render(row.kind, lang, values)
            rendered = _with_links(shared, unsubscribe, self.links.manage(subscriber.id))
            references = [mail_message.thread_id(comment.article_id, self.domain)]
        elif row.kind == "digest":
            groups: dict[int, dict[str, Any]] = {}
            count = 0
            for comment_id in data.digests.get(row.id, []):
                comment = data.comments.get(comment_id)
                if comment is None or comment.status != CommentStatus.APPROVED.value:
                    continue
                if (subscriber.id, comment.article_id) not in data.digest_subscribed:
                    continue
                article = data.articles.get(comment.article_id)
                site = site or self._site(article)
                group = groups.setdefault(
                    comment.article_id,
                    {
                        "title": self._title(article),
                        "url": self._article_url(self._site(article), article),
                        "comments": [],
                    },
                )
                group["comments"].append(
                    self._comment_values(self._site(article), article, comment, lang)
                )
                count += 1
            if not count:
                raise Skip("nothing left to tell")
            unsubscribe = self.links.unsubscribe(subscriber.id, None)
            values = {
                "site_title": site.title if site else "voxpop",
                "date": self.ctx.clock().date().isoformat(),
                "count": count,
                "articles": list(groups.values()),
                "unsubscribe_url": unsubscribe,
                "manage_url": self.links.manage(subscriber.id),
            }
        else:
            raise Skip(f"unknown kind {row.kind!r}")
        if row.kind != "notify":
            rendered = render(row.kind, lang, values)
        site_title = site.title if site else "voxpop"
        payload = mail_message.build(
            rendered=rendered,
            sender=self.ctx.settings.mail_from,
            sender_name=site_title,
            to=subscriber.email,
            message_id=mail_message.message_id(row.kind, row.id, self.domain),
            unsubscribe_url=unsubscribe,
            references=references,
            list_id=f"<{site.name if site else 'voxpop'}.{self.domain}>",
            lang=lang,
            date=self.ctx.clock(),
        )
        return subscriber.email, payload

    def _site(self, article: Any) -> Site | None:
        return self.sites.get(article.site_id) if article is not None else None

    @staticmethod
    def _title(article: Any) -> str:
        return (article.title or article.uri) if article is not None else ""

    def _article_url(self, site: Site | None, article: Any) -> str:
        return self.links.article(site, article.uri) if article is not None else self.links.base

    def _article_values(self, site: Site | None, article: Any) -> dict[str, Any]:
        return {
            "site_title": site.title if site else "voxpop",
            "article_title": self._title(article),
            "article_url": self._article_url(site, article),
        }

    def _comment_values(
        self, site: Site | None, article: Any, comment: Any, lang: str
    ) -> dict[str, Any]:
        return {
            "author": comment.author_name or ANONYMOUS[lang],
            "text": comment.body,
            "html": comment.html,
            "url": f"{self._article_url(site, article)}#voxpop-c{comment.id}",
            # A reply names whom it answers, "Anonymous" too: None means a new thread.
            "parent_author": (comment.parent_author or ANONYMOUS[lang])
            if comment.parent_id
            else None,
        }
